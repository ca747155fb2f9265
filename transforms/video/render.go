package video

/*
#include "umt.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// geometry is where a frame lands: rotated by mode, scaled to scW×scH, window
// (cropX, cropY, outW, outH) kept.
type geometry struct {
	mode                     int
	scW, scH                 int
	cropX, cropY, outW, outH int
	flags                    int
}

// rescale is av_rescale(a, b, c) for positive values: a·b/c rounded to nearest.
func rescale(a, b, c int64) int64 { return (a*b + c/2) / c }

// newGeometry reproduces ffmpeg's scale=w='if(lte(iw,ih),S,-1)':h='if(lte(iw,ih),-1,S)'
// followed by crop=S:S (crop mode), or a long-side-to-S scale (no crop). w, h are the coded
// size; sarNum/sarDen are used only with fixSAR.
func newGeometry(w, h, mode int, sarNum, sarDen int, cfg SampleConfig) (geometry, error) {
	flags, _ := swsFlags(cfg.Interp)
	g := geometry{mode: mode, flags: flags}
	dw, dh := int64(w), int64(h) // display extent (integers, possibly SAR-weighted)
	if cfg.FixSAR && sarNum > 0 && sarDen > 0 {
		dw, dh = int64(w)*int64(sarNum), int64(h)*int64(sarDen)
	}
	if mode == 1 || mode == 2 {
		dw, dh = dh, dw
	}
	S := int64(cfg.Size)
	if cfg.Crop {
		if dw <= dh {
			g.scW, g.scH = int(S), int(rescale(S, dh, dw))
		} else {
			g.scW, g.scH = int(rescale(S, dw, dh)), int(S)
		}
		g.outW, g.outH = int(S), int(S)
		// ffmpeg's crop evaluates x=(in_w-out_w)/2 as a double and stores lrint(x): halves
		// round to even (299-224 → x=38), not down.
		g.cropX, g.cropY = lrintHalf(g.scW-g.outW), lrintHalf(g.scH-g.outH)
	} else {
		if dw >= dh {
			g.scW, g.scH = int(S), int(max(1, rescale(S, dh, dw)))
		} else {
			g.scW, g.scH = int(max(1, rescale(S, dw, dh))), int(S)
		}
		g.outW, g.outH = g.scW, g.scH
	}
	if g.scW < g.outW || g.scH < g.outH || g.scW > 16*MaxSize || g.scH > 16*MaxSize {
		return g, newErr(ErrUnsupported, "", nil, "aspect ratio %dx%d is too extreme to scale to %d", w, h, cfg.Size)
	}
	return g, nil
}

// lrintHalf is lrint(n/2) for n ≥ 0 under the default round-to-nearest-even mode.
func lrintHalf(n int) int {
	return int(math.RoundToEven(float64(n) / 2))
}

// converter renders decoded frames; one per Sample call (it caches the swscale context).
type converter struct{ c *C.umt_conv }

func newConverter() (*converter, error) {
	c := C.umt_conv_new()
	if c == nil {
		return nil, errors.New("video: out of memory allocating a converter")
	}
	live.add(kindConv, 1)
	return &converter{c: c}, nil
}

func (cv *converter) close() {
	if cv.c != nil {
		C.umt_conv_free(cv.c)
		cv.c = nil
		live.add(kindConv, -1)
	}
}

// render writes f into dst (len outW*outH*3).
func (cv *converter) render(f *astiav.Frame, g geometry, dst []byte) error {
	if len(dst) != g.outW*g.outH*3 {
		return fmt.Errorf("video: render buffer %d bytes, want %d", len(dst), g.outW*g.outH*3)
	}
	ret := C.umt_convert(cv.c, (*C.AVFrame)(f.UnsafePointer()), C.int(g.mode), C.int(g.scW), C.int(g.scH),
		C.int(g.flags), C.int(g.cropX), C.int(g.cropY), C.int(g.outW), C.int(g.outH), (*C.uint8_t)(unsafe.Pointer(&dst[0])))
	if ret < 0 {
		return newErr(ErrUnsupported, "", astiav.Error(ret), "cannot convert a %dx%d %s frame to RGB", f.Width(), f.Height(), f.PixelFormat().Name())
	}
	return nil
}
