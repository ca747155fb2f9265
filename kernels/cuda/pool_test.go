package cuda

import (
	"errors"
	"testing"
)

// fakeAlloc hands out increasing addresses and can be limited to a number of bytes, to test
// the pool's caching, classes and out-of-memory retry without a GPU.
type fakeAlloc struct {
	next, live, limit uint64
	sizes             map[uint64]uint64
	frees             int
}

func (f *fakeAlloc) alloc(bytes uint64) (uint64, error) {
	if f.limit > 0 && f.live+bytes > f.limit {
		return 0, errors.New("CUDA_ERROR_OUT_OF_MEMORY")
	}
	f.next += 1 << 32
	f.sizes[f.next] = bytes
	f.live += bytes
	return f.next, nil
}

func (f *fakeAlloc) free(p uint64) error {
	s, found := f.sizes[p]
	if !found {
		return errors.New("double free")
	}
	delete(f.sizes, p)
	f.live -= s
	f.frees++
	return nil
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ in, want uint64 }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {1 << 20, 1 << 20}, {1<<20 + 1, 2 << 20},
		{2 << 20, 2 << 20}, {2<<20 + 1, 4 << 20}, {100 << 20, 100 << 20},
	} {
		if got := sizeClass(c.in); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestPoolReusesAndAccounts(t *testing.T) {
	f := &fakeAlloc{sizes: map[uint64]uint64{}}
	p := newPool(f)
	a, ca, _ := p.get(1000)
	b, cb, _ := p.get(3 << 20)
	if ca != 1024 || cb != 4<<20 || p.reserved != 1024+4<<20 || p.inCache != 0 {
		t.Fatalf("classes %d %d, reserved %d cached %d", ca, cb, p.reserved, p.inCache)
	}
	p.put(a, ca)
	a2, _, _ := p.get(1020) // same class: the cached block comes back
	if a2 != a || len(f.sizes) != 2 {
		t.Fatalf("block not reused: %x vs %x, %d driver allocations", a2, a, len(f.sizes))
	}
	p.put(a2, ca)
	p.put(b, cb)
	if p.inCache != 1024+4<<20 {
		t.Fatalf("cached %d", p.inCache)
	}
	if err := p.release(); err != nil || f.live != 0 || p.reserved != 0 || p.inCache != 0 {
		t.Fatalf("release: %v, driver live %d, reserved %d, cached %d", err, f.live, p.reserved, p.inCache)
	}
}

// TestPoolOutOfMemoryReleasesCache: when the driver is full, the pool frees its cached blocks
// and retries; when that is not enough, the error says how much is reserved and what to do.
func TestPoolOutOfMemoryReleasesCache(t *testing.T) {
	f := &fakeAlloc{sizes: map[uint64]uint64{}, limit: 8 << 20}
	p := newPool(f)
	x, cx, err := p.get(6 << 20)
	if err != nil {
		t.Fatal(err)
	}
	p.put(x, cx)
	y, _, err := p.get(4 << 20) // other class; fits only once the cached 6 MiB go back
	if err != nil || y == 0 || f.frees != 1 {
		t.Fatalf("retry after releasing the cache: %v (frees %d)", err, f.frees)
	}
	_, _, err = p.get(6 << 20)
	if err == nil {
		t.Fatal("allocation beyond the limit succeeded")
	}
	t.Logf("out-of-memory error: %v", err)
	if p.reserved != 4<<20 {
		t.Errorf("reserved %d after a failed allocation", p.reserved)
	}
}
