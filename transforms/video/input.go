package video

/*
#include "umt.h"
*/
import "C"

import (
	"context"
	"errors"
	"io"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// ioBufferSize is the custom-I/O buffer: one ReadAt per 64 KiB.
const ioBufferSize = 64 << 10

// input is one opened container: the demuxer, its guard and the chosen video stream.
type input struct {
	src    Source
	size   int64
	fc     *astiav.FormatContext
	pb     *C.AVIOContext // custom I/O of a ReaderSource
	handle cgo.Handle     // of this input, for the custom I/O callbacks
	guard  *C.umt_guard
	st     *astiav.Stream
	vidx   int
	ctx    context.Context
	images bool // opened by SampleImage: still-image demuxers are accepted

	mu      sync.Mutex // guards closed against the context watcher
	closed  bool
	stop    func() bool
	readErr error    // first non-EOF error of the custom reader
	logs    *logSink // FFmpeg's error messages about this input (demuxer and decoder)
	pos     int64
}

func budgetUS(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		us := time.Until(d).Microseconds()
		if us < 1 {
			us = 1
		}
		return us
	}
	return 0
}

// openInput opens src with a guard bound to ctx. On error everything is already freed.
func openInput(ctx context.Context, src Source) (*input, error) {
	return openInputMode(ctx, src, false)
}

// openInputMode is openInput; images marks an input opened by SampleImage: probe then
// accepts still-image demuxers, and image2 takes the file name literally.
func openInputMode(ctx context.Context, src Source, images bool) (*input, error) {
	size, err := src.stat()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, timeoutErr(src.name, err)
	}
	in := &input{src: src, size: size, ctx: ctx, vidx: -1, images: images}
	in.guard = C.umt_guard_new(C.int64_t(budgetUS(ctx)))
	if in.guard == nil {
		return nil, errors.New("video: out of memory allocating the interrupt guard")
	}
	live.add(kindGuard, 1)
	in.stop = context.AfterFunc(ctx, func() {
		in.mu.Lock()
		if !in.closed {
			C.umt_guard_abort(in.guard)
		}
		in.mu.Unlock()
	})

	var pb *C.AVIOContext
	url := "file:" + src.path
	whitelist := "file"
	if src.r != nil {
		in.handle = cgo.NewHandle(in)
		in.pb = C.umt_avio_new(C.uintptr_t(in.handle), ioBufferSize)
		if in.pb == nil {
			in.close()
			return nil, errors.New("video: out of memory allocating custom I/O")
		}
		live.add(kindIO, 1)
		pb = in.pb
		url = ""
		whitelist = "none"
	}
	curl := C.CString(url)
	cwl := C.CString(whitelist)
	var cfc *C.AVFormatContext
	ret := C.umt_open(&cfc, curl, pb, unsafe.Pointer(in.guard), cwl, boolInt(images))
	C.free(unsafe.Pointer(curl))
	C.free(unsafe.Pointer(cwl))
	if ret < 0 {
		cause := astiav.Error(ret)
		in.close()
		return nil, in.classifyOpenError(cause)
	}
	// Wrap the context in a go-astiav value ourselves: astiav's OpenInput leaves a stale
	// registry entry behind whenever avformat_open_input fails (it frees the context).
	in.fc = &astiav.FormatContext{}
	*(*unsafe.Pointer)(unsafe.Pointer(in.fc)) = unsafe.Pointer(cfc)
	live.add(kindFormat, 1)
	in.logs = &logSink{}
	watchLog(unsafe.Pointer(cfc), in.logs)
	return in, nil
}

// close frees everything; safe to call twice.
func (in *input) close() {
	if in.stop != nil {
		in.stop()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	in.closed = true
	if in.fc != nil {
		unwatchLog(cPtr(in.fc))
		in.fc.CloseInput()
		in.fc = nil
		live.add(kindFormat, -1)
	}
	if in.pb != nil {
		C.umt_avio_free(in.pb)
		in.pb = nil
		live.add(kindIO, -1)
	}
	if in.handle != 0 {
		in.handle.Delete()
		in.handle = 0
	}
	if in.guard != nil {
		C.free(unsafe.Pointer(in.guard))
		in.guard = nil
		live.add(kindGuard, -1)
	}
}

func (in *input) expired() bool { return C.umt_guard_expired(in.guard) != 0 }

// read and seek adapt the io.ReaderAt to FFmpeg's custom I/O callbacks.
func (in *input) read(b []byte) (int, error) {
	if in.expired() {
		return 0, astiav.ErrExit
	}
	if in.pos >= in.src.size {
		return 0, astiav.ErrEof
	}
	if rest := in.src.size - in.pos; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := in.src.r.ReadAt(b, in.pos)
	in.pos += int64(n)
	if n > 0 {
		return n, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return 0, astiav.ErrEof
	}
	if in.readErr == nil {
		in.readErr = err
	}
	return 0, astiav.ErrEio
}

const (
	avseekSize  = 0x10000
	avseekForce = 0x20000
)

func (in *input) seek(offset int64, whence int) (int64, error) {
	if whence&avseekSize != 0 {
		return in.src.size, nil
	}
	whence &^= avseekForce
	var p int64
	switch whence {
	case io.SeekStart:
		p = offset
	case io.SeekCurrent:
		p = in.pos + offset
	case io.SeekEnd:
		p = in.src.size + offset
	default:
		return 0, astiav.Error(-22) // EINVAL
	}
	if p < 0 {
		return 0, astiav.Error(-22)
	}
	in.pos = p
	return p, nil
}

func timeoutErr(name string, cause error) error {
	return newErr(ErrTimeout, name, cause, "gave up at the deadline; raise SampleConfig.Deadline if the input is just slow")
}

// classifyOpenError turns an avformat_open_input failure into a class.
func (in *input) classifyOpenError(cause error) error {
	name := in.src.name
	if in.ctx.Err() != nil || errors.Is(cause, astiav.ErrExit) {
		if in.ctx.Err() != nil {
			return timeoutErr(name, in.ctx.Err())
		}
		return timeoutErr(name, cause)
	}
	if in.readErr != nil {
		return newErr(ErrTruncated, name, in.readErr, "reading the source failed part-way; retry or re-fetch it")
	}
	switch sniffContainer(in.src.head(512)) {
	case "isobmff":
		if r, done, err := in.src.readerAt(); err == nil {
			w := walkISO(r, in.size)
			done()
			switch {
			case w.ok && w.cutBox != "":
				return newErr(ErrTruncated, name, cause, "MP4/MOV file ends early: %s; re-download it", w.cut(in.size))
			case w.ok && !w.moov:
				return newErr(ErrCorrupt, name, cause, "MP4/MOV file is whole (its boxes end at its last byte) but has no readable moov box (the index is damaged); re-encode or drop it")
			}
		}
		return newErr(ErrCorrupt, name, cause, "MP4/MOV structure is damaged; re-encode or drop it")
	case "":
		return newErr(ErrNotMedia, name, cause, "FFmpeg recognises no audio/video container in these bytes")
	default:
		return newErr(ErrCorrupt, name, cause, "the container header is damaged; re-encode or drop it")
	}
}
