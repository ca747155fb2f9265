package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// backends returns the configurations every cross-check runs on: the linked GEMM (OpenBLAS with
// cgo) and the pure-Go kernel, each single-threaded and with an odd thread count so that chunk
// boundaries fall in odd places.
func backends(t *testing.T) map[string]*Backend {
	t.Helper()
	return map[string]*Backend{
		"default/1": New(Options{Threads: 1}),
		"default/3": New(Options{Threads: 3}),
		"purego/1":  New(Options{Threads: 1, PureGo: true}),
		"purego/3":  New(Options{Threads: 3, PureGo: true}),
	}
}

// randSlice returns n values uniform in [-1, 1).
func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(2*r.Float64() - 1)
	}
	return s
}

// upload allocates a buffer holding s.
func upload(b *Backend, s []float32) kernels.Buf {
	buf := b.Alloc(len(s))
	b.Upload(buf, s)
	return buf
}

// checkClose compares got with a float64 reference: element i passes when
// |got-want| <= atol + rtol*|want| + bound[i] (bound may be nil). On failure it reports the
// maximum absolute and relative errors and the first mismatches side by side.
func checkClose(t *testing.T, name string, got []float32, want []float64, bound []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	var maxAbs, maxRel float64
	var bad []string
	nbad := 0
	for i := range got {
		d := math.Abs(float64(got[i]) - want[i])
		maxAbs = max(maxAbs, d)
		if want[i] != 0 {
			maxRel = max(maxRel, d/math.Abs(want[i]))
		}
		lim := atol + rtol*math.Abs(want[i])
		if bound != nil {
			lim += bound[i]
		}
		if !(d <= lim) {
			nbad++
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("  [%d] got %.9g want %.9g diff %.3g limit %.3g", i, got[i], want[i], d, lim))
			}
		}
	}
	if nbad > 0 {
		t.Errorf("%s: %d of %d values out of tolerance; max abs err %.3g, max rel err %.3g\n%s",
			name, nbad, len(got), maxAbs, maxRel, strings.Join(bad, "\n"))
	}
}

// mustSync fails the test if the backend recorded an error, and checks no buffers leaked when
// leakCheck is set.
func mustSync(t *testing.T, b *Backend) {
	t.Helper()
	if err := b.Sync(); err != nil {
		t.Fatalf("backend error: %v", err)
	}
}

func to64(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}
