package cpu

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

func TestMemoryAccounting(t *testing.T) {
	be := New(Options{Threads: 2})
	a, ix := be.Alloc(10), be.AllocIndex(3)
	if st := be.Stats(); st.LiveBytes != 52 || st.LiveAllocs != 2 || st.PeakBytes != 52 {
		t.Fatalf("stats after two allocations: %+v, want 52 live bytes in 2", st)
	}
	d := be.Data(a)
	d[3] = 7 // zero-copy: visible to the backend
	got := make([]float32, 10)
	if err := be.Download(got, a); err != nil || got[3] != 7 {
		t.Fatalf("Data is not zero-copy: got %v, err %v", got, err)
	}
	if v := be.Data(a.View(2, 3)); len(v) != 3 || v[1] != 7 {
		t.Fatalf("Data of a view: %v", v)
	}
	if be.Data(ix) != nil || be.Index(a) != nil {
		t.Fatal("Data/Index accept the wrong element type")
	}
	be.Free(a)
	be.Free(ix)
	mustSync(t, be)
	if st := be.Stats(); st.LiveBytes != 0 || st.LiveAllocs != 0 || st.PeakBytes != 52 {
		t.Fatalf("stats after freeing: %+v", st)
	}
}

func TestMisuseIsReported(t *testing.T) {
	be, other := New(Options{Threads: 1}), New(Options{Threads: 1})
	a, foreign := be.Alloc(8), other.Alloc(8)
	cases := []struct {
		name string
		do   func()
		want string
	}{
		{"free a view", func() { be.Free(a.View(0, 4)) }, "view"},
		{"free zero", func() { be.Free(kernels.Buf{}) }, "missing"},
		{"foreign buffer", func() { be.Copy(a, foreign) }, "another backend"},
		{"upload length", func() { be.Upload(a, make([]float32, 3)) }, "3 values into a buffer of 8"},
		{"copy lengths", func() { be.Copy(a, a.View(0, 4)) }, "has 4 elements, want 8"},
		{"layernorm short gamma", func() { be.LayerNorm(a, a, a.View(0, 2), a, kernels.Buf{}, kernels.Buf{}, 2, 4, 1e-5) }, "gamma"},
	}
	for _, c := range cases {
		c.do()
		err := be.Sync()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if err := be.Download(make([]float32, 2), a); err == nil || !strings.Contains(err.Error(), "into a slice of 2") {
		t.Errorf("download length: error %v", err)
	}
	// After an error, later operations are skipped until Sync.
	be.Upload(a, make([]float32, 3))
	be.Fill(a, 1)
	if err := be.Sync(); err == nil {
		t.Fatal("no error")
	}
	if be.Data(a)[0] != 0 {
		t.Error("an operation issued after a failure ran")
	}
	be.Free(a)
	be.Free(a)
	if err := be.Sync(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("double free: %v", err)
	}
	be.Fill(a, 1)
	if err := be.Sync(); err == nil || !strings.Contains(err.Error(), "after Free") {
		t.Errorf("use after free: %v", err)
	}
	other.Free(foreign)
	mustSync(t, other)
}

func TestViewPanicsOutOfRange(t *testing.T) {
	be := New(Options{Threads: 1})
	a := be.Alloc(4)
	defer be.Free(a)
	defer func() {
		if recover() == nil {
			t.Error("View(2, 3) of 4 elements did not panic")
		}
	}()
	_ = a.View(2, 3)
}

// TestConcurrentBackends runs GEMMs from several goroutines at once, each with its own backend,
// as prep does with one teacher per worker: OpenBLAS must be reentrant in single-thread mode.
func TestConcurrentBackends(t *testing.T) {
	const n = 96
	r := rand.New(rand.NewPCG(17, 18))
	A, B := randSlice(r, n*n), randSlice(r, n*n)
	want, scale := refGemm(kernels.Gemm{M: n, N: n, K: n, Alpha: 1, LDA: n, LDB: n, LDC: n}, A, B, make([]float32, n*n))
	bound := make([]float64, len(scale))
	for i := range scale {
		bound[i] = 2 * n * f32eps * scale[i]
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			be := New(Options{Threads: 2})
			a, b, c := upload(be, A), upload(be, B), be.Alloc(n*n)
			for it := 0; it < 20; it++ {
				be.Gemm(kernels.Gemm{M: n, N: n, K: n, Alpha: 1, A: a, LDA: n, B: b, LDB: n, C: c, LDC: n})
			}
			got := make([]float32, n*n)
			if err := be.Download(got, c); err != nil {
				t.Error(err)
				return
			}
			checkClose(t, "concurrent gemm", got, want, bound, 1e-30, 0)
			be.Free(a)
			be.Free(b)
			be.Free(c)
		}()
	}
	wg.Wait()
}
