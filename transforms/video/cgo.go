package video

// Small C helpers (umt.c) for what go-astiav v0.16.0 does not expose: the per-call
// interrupt guard (deadline + abort flag checked by FFmpeg's interrupt callback, no Go
// callback involved), avformat_open_input without astiav's registry leak on failure,
// avcodec_flush_buffers, best-effort timestamps, index sanity, display-matrix rotation and
// the frame → RGB24 conversion (plane transpose for autorotation, swscale with the frame's
// colour tags exactly as libavfilter's scale filter sets them, centre crop).

/*
#cgo pkg-config: libavcodec libavformat libavutil libswscale
#include "umt.h"
*/
import "C"

import "unsafe"

// cPtr reaches the C struct behind a go-astiav value: each go-astiav type used here keeps
// its C pointer as its first field.
func cPtr[T any](v *T) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(v)) }
