package shard

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// maxBuffer caps one decoded Arrow buffer. A corrupted shard can claim any uncompressed size;
// without a cap, decoding it would try to allocate that much. Real buffers are far smaller
// (a batch of a few clips is tens of MB), so anything above this is reported as corruption.
const maxBuffer = 1 << 30

// cappedAllocator refuses allocations above max. Arrow's record loader turns the panic into an
// error ("arrow/ipc: error reading record batch"), which callers classify as ErrCorrupt.
type cappedAllocator struct {
	memory.Allocator
	max int
}

func capped(mem memory.Allocator) memory.Allocator {
	if _, ok := mem.(cappedAllocator); ok {
		return mem
	}
	return cappedAllocator{Allocator: mem, max: maxBuffer}
}

func (a cappedAllocator) Allocate(size int) []byte {
	if size < 0 || size > a.max {
		panic(fmt.Sprintf("buffer of %d bytes exceeds the %d-byte cap (corrupt sizes)", size, a.max))
	}
	return a.Allocator.Allocate(size)
}

func (a cappedAllocator) Reallocate(size int, b []byte) []byte {
	if size < 0 || size > a.max {
		panic(fmt.Sprintf("buffer of %d bytes exceeds the %d-byte cap (corrupt sizes)", size, a.max))
	}
	return a.Allocator.Reallocate(size, b)
}
