package cuda

import (
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
)

// TestGPUOpenAndCache opens the backend twice with a fresh cache directory: the first Open
// compiles every program, the second loads them all from the cache.
func TestGPUOpenAndCache(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	b := gpuOrSkip(t, Options{})
	t.Logf("%s: %s", b.Name(), b.Device())
	if b.compiled != len(programs) || b.cacheHits != 0 {
		t.Errorf("first Open: %d compiled, %d from cache; want %d, 0", b.compiled, b.cacheHits, len(programs))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := gpuOrSkip(t, Options{})
	defer b2.Close()
	if b2.cacheHits != len(programs) || b2.compiled != 0 {
		t.Errorf("second Open: %d compiled, %d from cache; want 0, %d", b2.compiled, b2.cacheHits, len(programs))
	}
	if b.dev.major == 9 && !strings.HasPrefix(b.arch, "sm_90") && !strings.HasPrefix(b.arch, "compute_9") {
		t.Errorf("Hopper GPU compiled for %s", b.arch)
	}
}

// TestGPUAccountingAndMisuse: Stats, the pool, and the errors of misuse (recorded, reported at
// Sync, later operations skipped, the backend usable afterwards).
func TestGPUAccountingAndMisuse(t *testing.T) {
	b := gpuOrSkip(t, Options{})
	defer b.Close()
	x := b.Alloc(1000)
	ix := b.AllocIndex(10)
	if s := b.Stats(); s.LiveBytes != 4040 || s.LiveAllocs != 2 {
		t.Errorf("Stats after two allocations: %+v", s)
	}
	got := make([]float32, 1000)
	if err := b.Download(got, x); err != nil || got[999] != 0 {
		t.Errorf("fresh buffer not zeroed: %v %v", err, got[999])
	}
	b.Free(x.View(0, 10))
	b.Scale(x, x, 2) // skipped: an error is pending
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "view") {
		t.Errorf("freeing a view: %v", err)
	}
	c := cpu.New(cpu.Options{})
	foreign := c.Alloc(1000)
	b.Add(x, x, foreign)
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "another backend") {
		t.Errorf("a CPU buffer in a GPU op: %v", err)
	}
	c.Free(foreign)
	b.Free(x)
	b.Free(x)
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "after Free") {
		t.Errorf("double free: %v", err)
	}
	b.Free(ix)
	if s := b.Stats(); s.LiveBytes != 0 || s.LiveAllocs != 0 || s.PeakBytes != 4040 {
		t.Errorf("Stats after freeing everything: %+v", s)
	}
	empty := b.Alloc(0) // empty buffers upload and download like any other
	b.Upload(empty, nil)
	if err := b.Download(nil, empty); err != nil {
		t.Errorf("empty buffer: %v", err)
	}
	b.Free(empty)
	reserved, cached := b.PoolStats()
	if reserved == 0 || cached != reserved {
		t.Errorf("pool: reserved %d, cached %d; want every block cached", reserved, cached)
	}
	y := b.Alloc(1000) // reuses the cached block
	if r2, _ := b.PoolStats(); r2 != reserved {
		t.Errorf("pool grew from %d to %d instead of reusing a cached block", reserved, r2)
	}
	b.Free(y)
	if err := b.ReleaseCache(); err != nil {
		t.Fatal(err)
	}
	if r, c := b.PoolStats(); r != 0 || c != 0 {
		t.Errorf("after ReleaseCache: reserved %d cached %d", r, c)
	}
	var _ kernels.Trainer = b
}
