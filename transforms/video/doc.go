// Package video decodes videos with FFmpeg (go-astiav v0.16.0 over Debian 12's FFmpeg 5.1) and
// samples frames the way UMT does: probe, seek-based decoding by presentation time, rotation,
// SAR and colour handling, resize and centre crop to RGB uint8, with typed error classes for bad
// input and deadlines on every decode.
//
// It is the only package that may import go-astiav (cgo); everything else in the module builds
// and tests with CGO_ENABLED=0. It imports nothing of ours but schemas.
package video
