package video

/*
#include "umt.h"
*/
import "C"

import "github.com/asticode/go-astiav"

func streamRotation(st *astiav.Stream) (float64, bool) {
	var has C.int
	r := float64(C.umt_rotation((*C.AVStream)(cPtr(st)), &has))
	return r, has != 0
}

func indexCount(st *astiav.Stream) int { return int(C.umt_index_count((*C.AVStream)(cPtr(st)))) }

func keyframeBefore(st *astiav.Stream, ts int64) int64 {
	return int64(C.umt_keyframe_before((*C.AVStream)(cPtr(st)), C.int64_t(ts)))
}

// ReleaseFreeMemory hands freed C-heap pages (FFmpeg's frame and packet buffers) back to the
// OS with glibc's malloc_trim. Decoders free everything, but glibc keeps freed pages in its
// per-thread arenas, so RSS of a long-running worker drifts by tens of MB; call this between
// batches when RSS matters. It reports whether memory was released.
func ReleaseFreeMemory() bool { return C.umt_malloc_trim() != 0 }
