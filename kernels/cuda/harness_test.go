package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
)

// The GPU tests run every operation on this backend and on kernels/cpu (the reference) with the
// same fresh random inputs and compare. On a machine without a usable GPU they skip with the
// reason Open gives.

// gpuOrSkip opens the GPU backend or skips the test, saying why.
func gpuOrSkip(tb testing.TB, o Options) *Backend {
	tb.Helper()
	b, err := Open(o)
	if err != nil {
		tb.Skipf("no usable GPU here, skipping (expected on CPU-only machines): %v", err)
	}
	return b
}

// quick returns all, or only its first n entries when the tests run on the emulator in its
// default (quick) mode: the emulator runs every CUDA thread as an OS thread, so the largest
// shapes take minutes there. UMT_SOAK=1 runs them all.
func quick[T any](all []T, n int) []T {
	if emulated && !emuFull && n < len(all) {
		return all[:n]
	}
	return all
}

// pair is one logical tensor on both backends: [0] GPU, [1] CPU.
type pair [2]kernels.Buf

// dual drives both backends and owns every buffer it allocates; at cleanup it frees them and
// asserts that both backends report zero live bytes and no pending error.
type dual struct {
	t    *testing.T
	g    *Backend
	c    *cpu.Backend
	bufs []pair
	rng  *rand.Rand
}

func newDual(t *testing.T, o Options) *dual {
	t.Helper()
	g := gpuOrSkip(t, o)
	d := &dual{t: t, g: g, c: cpu.New(cpu.Options{}), rng: rand.New(rand.NewPCG(uint64(len(t.Name())), 0x5eed))}
	t.Cleanup(func() {
		for _, p := range d.bufs {
			d.g.Free(p[0])
			d.c.Free(p[1])
		}
		if err := d.g.Sync(); err != nil {
			t.Errorf("GPU error pending at the end of the test: %v", err)
		}
		if s := d.g.Stats(); s.LiveBytes != 0 || s.LiveAllocs != 0 {
			t.Errorf("GPU backend: %d live bytes in %d allocations after freeing everything; want 0", s.LiveBytes, s.LiveAllocs)
		}
		if s := d.c.Stats(); s.LiveBytes != 0 {
			t.Errorf("CPU backend: %d live bytes after freeing everything", s.LiveBytes)
		}
		if err := d.g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func (d *dual) backends() [2]kernels.Backend { return [2]kernels.Backend{d.g, d.c} }

// run calls f once per backend with that backend's side of every pair (s = 0 GPU, 1 CPU).
func (d *dual) run(f func(k kernels.Trainer, s int)) {
	f(d.g, 0)
	f(d.c, 1)
}

// put allocates a pair holding x.
func (d *dual) put(x []float32) pair {
	var p pair
	for s, k := range d.backends() {
		p[s] = k.Alloc(len(x))
		k.Upload(p[s], x)
	}
	d.bufs = append(d.bufs, p)
	return p
}

// rand allocates a pair of n uniform values in [lo, hi).
func (d *dual) rand(n int, lo, hi float64) pair { return d.put(d.vals(n, lo, hi)) }

func (d *dual) vals(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*d.rng.Float64())
	}
	return x
}

// zeros allocates a zeroed pair.
func (d *dual) zeros(n int) pair { return d.put(make([]float32, n)) }

// index allocates an int32 pair.
func (d *dual) index(ix []int32) pair {
	var p pair
	for s, k := range d.backends() {
		p[s] = k.AllocIndex(len(ix))
		k.UploadIndex(p[s], ix)
	}
	d.bufs = append(d.bufs, p)
	return p
}

// get downloads both sides; a pending error on either fails the test.
func (d *dual) get(p pair) (gpu, ref []float32) {
	d.t.Helper()
	gpu, ref = make([]float32, p[0].Len()), make([]float32, p[1].Len())
	if err := d.g.Download(gpu, p[0]); err != nil {
		d.t.Fatalf("GPU: %v", err)
	}
	if err := d.c.Download(ref, p[1]); err != nil {
		d.t.Fatalf("CPU: %v", err)
	}
	return gpu, ref
}

// check compares the two sides of p: every element within atol + rtol*|ref|.
func (d *dual) check(name string, p pair, atol, rtol float64) {
	d.t.Helper()
	gpu, ref := d.get(p)
	if msg := compare(gpu, ref, atol, rtol); msg != "" {
		d.t.Errorf("%s: %s", name, msg)
	}
}

// compare returns "" when every |got-want| <= atol + rtol*|want|, else the max abs and rel
// errors and the first mismatches side by side.
func compare(got, want []float32, atol, rtol float64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("lengths %d vs %d", len(got), len(want))
	}
	var maxAbs, maxRel float64
	var bad []int
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		diff := math.Abs(g - w)
		if math.IsNaN(g) != math.IsNaN(w) || diff > atol+rtol*math.Abs(w) || (math.IsInf(g, 0) && g != w) {
			bad = append(bad, i)
		}
		if !math.IsNaN(diff) {
			maxAbs = max(maxAbs, diff)
			maxRel = max(maxRel, diff/max(math.Abs(w), 1e-30))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d elements outside atol %.3g + rtol %.3g; max abs err %.3g, max rel err %.3g\n    index        gpu          cpu",
		len(bad), len(got), atol, rtol, maxAbs, maxRel)
	for _, i := range bad[:min(len(bad), 6)] {
		fmt.Fprintf(&b, "\n    %6d %12.6g %12.6g", i, got[i], want[i])
	}
	return b.String()
}

// maxAbs is max |x|.
func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}
