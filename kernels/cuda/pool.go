package cuda

import (
	"fmt"
	"sort"
)

// allocator is where the pool gets device memory from: the CUDA driver in the backend, a fake
// in the tests.
type allocator interface {
	alloc(bytes uint64) (uint64, error)
	free(ptr uint64) error
}

// pool is a caching allocator: freed blocks are kept by size class and handed out again, so a
// training step that allocates the same temporaries every iteration stops calling cuMemAlloc
// (which synchronises the device) after the first step. When the driver is out of memory the
// pool returns its cached blocks to the driver and tries once more.
type pool struct {
	a        allocator
	cached   map[uint64][]uint64 // size class -> free blocks
	reserved uint64              // bytes held from the driver (in use + cached)
	inCache  uint64              // bytes in the cache
}

func newPool(a allocator) *pool { return &pool{a: a, cached: map[uint64][]uint64{}} }

// sizeClass rounds a request up: to 512 bytes below 1 MiB, to 2 MiB above. Classes bound the
// waste (at most 2 MiB, or half of a sub-KiB request) and make blocks reusable across nearby
// sizes (a batch that shrinks a little reuses the same memory).
func sizeClass(bytes uint64) uint64 {
	const small, large = 512, 2 << 20
	if bytes == 0 {
		return small
	}
	if bytes <= 1<<20 {
		return (bytes + small - 1) / small * small
	}
	return (bytes + large - 1) / large * large
}

// get returns a block of at least bytes bytes and its class.
func (p *pool) get(bytes uint64) (ptr, class uint64, err error) {
	class = sizeClass(bytes)
	if l := p.cached[class]; len(l) > 0 {
		ptr = l[len(l)-1]
		p.cached[class] = l[:len(l)-1]
		p.inCache -= class
		return ptr, class, nil
	}
	ptr, err = p.a.alloc(class)
	if err != nil && p.inCache > 0 {
		p.release()
		ptr, err = p.a.alloc(class)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("allocating %d bytes of GPU memory (%d reserved by this backend): %w; use a smaller batch", class, p.reserved, err)
	}
	p.reserved += class
	return ptr, class, nil
}

// put returns a block to the cache.
func (p *pool) put(ptr, class uint64) {
	p.cached[class] = append(p.cached[class], ptr)
	p.inCache += class
}

// release frees every cached block (largest classes first) and reports the first error.
func (p *pool) release() error {
	classes := make([]uint64, 0, len(p.cached))
	for c := range p.cached {
		classes = append(classes, c)
	}
	sort.Slice(classes, func(i, j int) bool { return classes[i] > classes[j] })
	var first error
	for _, c := range classes {
		for _, ptr := range p.cached[c] {
			if err := p.a.free(ptr); err != nil && first == nil {
				first = err
			}
			p.reserved -= c
			p.inCache -= c
		}
		delete(p.cached, c)
	}
	return first
}
