// Package video decodes videos with FFmpeg (go-astiav v0.16.0 over Debian 12's FFmpeg 5.1) and
// samples frames the way UMT does: probe, seek-based decoding by presentation time, rotation,
// SAR and colour handling, resize and centre crop to RGB uint8, with typed error classes for bad
// input and deadlines on every decode.
//
// It is the only package that may import go-astiav (cgo); everything else in the module builds
// and tests with CGO_ENABLED=0. It imports nothing of ours but schemas.
//
// # Contract
//
//	src := video.FileSource(path)                 // or video.ReaderSource(name, readerAt, size)
//	info, err := video.Probe(ctx, src)            // Info: the fields of `umt inspect video`
//	cfg := video.DefaultSampleConfig()            // 8 × "middle", 224×224 centre crop, bicubic
//	cfg.Sampler, cfg.Seed = "rand", video.SeedFor(clipID)
//	clip, err := video.Sample(ctx, src, cfg)      // clip.Frames: [T, S, S, 3] RGB uint8
//	img, err := video.SampleImage(ctx, src, cfg)  // a still image: a 1-frame clip, [1, S, S, 3]
//	video.Class(err)                              // "", empty, not_media, no_video_stream, truncated,
//	                                              // corrupt, unsupported, too_large, timeout, missing,
//	                                              // bad_span, internal
//	rep := video.Check(ctx, src, deadline)        // decode every frame: the whole file's class
//
// Errors wrap one sentinel (ErrEmpty … ErrMissing) for errors.Is; configuration mistakes wrap
// ErrBadConfig (check them once with SampleConfig.Validate).
//
// # Samplers (UMT.md §3)
//
// Samplers work on frame indices of a span of vlen frames exactly as UMT's code does
// (get_frame_indices 'rand'/'middle'/'fpsX', stage-1 TSN "segment"), seeded from the clip id.
// vlen is the frame count (container header, else duration × average rate) scaled to the span.
// Index i then maps to presentation time span_start + i·span/vlen, and the frame taken for a
// time t is the first decoded frame whose presentation time is ≥ t, which is what
// `ffmpeg -ss t` returns (t is relative to the container start time, rounded to the stream
// time base to nearest as the CLI does). For constant-rate files this is exactly frame i; for
// variable-rate files it is the frame on screen at that time. "at:t1,t2" gives times directly.
//
// End of stream: when no frame has a presentation time ≥ t and the stream ended cleanly (t is
// in the last frame's display interval, or the last frame ends within max(2 frame intervals,
// 0.25 s) of the declared end), the last frame is returned. When the stream ended early (a
// Matroska file cut where no index says so: "decodes to 2.00 s of a declared 6.00 s") or the
// file ends inside a unit of its container (cut.go: an MP4 box, a TS packet, an Ogg page),
// targets past the end are missing and the file is truncated: OnMissing "fail" returns
// ErrTruncated/ErrCorrupt, "pad" repeats the nearest decoded frame and counts it in Clip.Padded.
//
// Damage (damage.go): a sampled frame FFmpeg flagged (decode_error_flags, AV_FRAME_FLAG_CORRUPT)
// or decoded from damaged references, or a target in a stretch the demuxer dropped, fails the
// clip as ErrCorrupt (OnCorrupt "fail") or is counted in Clip.Damaged (OnCorrupt "keep");
// damaged frames no target took are Clip.DamagedSkipped. Check decodes a whole file and
// classifies it by the same rules (`umt inspect video --decode`). docs/DATASET.md lists how
// every class is decided.
//
// # Decoding
//
// For each target the demuxer seeks to the keyframe before it (only when that keyframe lies
// beyond the current position) and decodes forward; targets that share a GOP reuse one
// forward pass. While decoding towards a target, non-reference frames whose packets are
// earlier than the target are dropped by the decoder (they can be neither selected nor
// referenced). Containers whose seeking FFmpeg 5.1 gets wrong (MPEG-TS, raw elementary
// streams, Ogg) are decoded sequentially. A seek whose first frame comes after its target
// steps back one keyframe (index times are decode times), and if that lands late too the call
// restarts as a sequential pass (Clip.SeekMode "seek+sequential"). Files without a duration
// (WebM written to a pipe) get one from a demux-only pass over packet timestamps.
//
// Rendering reproduces ffmpeg's filter chain "transpose (autorotate) → scale (one swscale
// call to RGB24 at the scaled size, colour matrix and range from the frame's tags) → crop":
// output matches `ffmpeg -ss t -i F -vf scale=…:flags=bicubic,crop=S:S` bit for bit on the
// test corpus. SAR is ignored by default (as UMT and ffmpeg's scale filter do); FixSAR scales
// to square pixels.
//
// # Images
//
// SampleImage(ctx, src, cfg) (*Clip, error) reads UMT's "image" entries: it opens src
// accepting still-image demuxers (image2 by file name for a FileSource, the content-probed
// jpeg/png/webp/bmp/tiff/…_pipe demuxers for readers; GIF and APNG give their first frame),
// decodes the first frame and renders it through the same chain as video frames, so it
// equals `ffmpeg -i IMG -frames:v 1 -vf scale=…:flags=bicubic,crop=S:S` bit for bit (JPEG is
// full-range yuvj420p; alpha is dropped as the CLI drops it). The clip has one frame (PTS 0,
// TimeS 0, FramesDecoded 1); the sampler fields of cfg are ignored. A video given to
// SampleImage yields its first frame (Sample's "at:0"). Sample keeps rejecting images
// (image2, *_pipe, gif, apng) as not_media; SampleImage rejects text (tty, SVG) as not_media.
// A JPEG without EOI, a PNG without IEND or with a chunk past the end and a WebP shorter than
// its RIFF size are truncated (FFmpeg would render them with grey rows); an image the
// decoder finds no picture in is corrupt; a non-image with an image's name is not_media.
// Fixtures and CLI goldens: testdata/images (gen.sh).
//
// # Resources
//
// Every call owns its FFmpeg objects and frees them on every path (LiveObjects counts them);
// a ReaderSource's ReadAt is called only while the deadline has not passed, but a ReadAt that
// blocks forever cannot be interrupted: give it its own deadline (e.g. a GCS reader's ctx);
// a deadline (SampleConfig.Deadline, else DefaultDeadline, and the context) is enforced by
// FFmpeg's interrupt callback during I/O and checked between packets; Limits bound picture
// size, duration, decoded bytes and output bytes. Calls are independent and safe to run
// concurrently.
//
// # Tests
//
// go test ./transforms/video/ runs the corpus (UMT_VIDEOS, default testdata/videos) checks,
// sampler goldens, the image fixtures (testdata/images), fuzz seeds (FuzzOpen,
// FuzzSampleImage), a short leak loop and an 8-goroutine test (about 1–2 min on the 2-core
// box; run it with -race too). UMT_SOAK=1 makes the leak loop the full 200
// passes over the corpus. Benchmarks: go test ./transforms/video/ -run '^$' -bench .
// (see docs/bench/video.md).
package video
