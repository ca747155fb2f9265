package video

/*
#include "umt.h"
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// The read and seek callbacks of a ReaderSource's AVIOContext. FFmpeg's buffer is handed to
// ReadAt directly (no per-call allocation or copy); h is the cgo.Handle of the *input,
// valid from openInput until close (after the format context is gone).

//export umtGoRead
func umtGoRead(h C.uintptr_t, buf *C.uint8_t, size C.int) C.int {
	in, ok := cgo.Handle(h).Value().(*input)
	if !ok || size <= 0 {
		return C.int(astiav.ErrUnknown)
	}
	n, err := in.read(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(size)))
	if err != nil {
		return C.int(avError(err))
	}
	return C.int(n)
}

//export umtGoSeek
func umtGoSeek(h C.uintptr_t, off C.int64_t, whence C.int) C.int64_t {
	in, ok := cgo.Handle(h).Value().(*input)
	if !ok {
		return C.int64_t(astiav.ErrUnknown)
	}
	p, err := in.seek(int64(off), int(whence))
	if err != nil {
		return C.int64_t(avError(err))
	}
	return C.int64_t(p)
}

func avError(err error) astiav.Error {
	var e astiav.Error
	if errors.As(err, &e) {
		return e
	}
	return astiav.ErrUnknown
}
