package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// refGemm is the naive float64 product; it also returns Σ|alpha·a·b| + |beta·c| per element,
// the scale of the float32 rounding error a GEMM may make (Higham: |err| ≤ γ_K · that sum).
func refGemm(g kernels.Gemm, A, B, C []float32) (out, scale []float64) {
	g = g.Normalized()
	out, scale = to64(C), make([]float64, len(C))
	for bi := 0; bi < g.Batch; bi++ {
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				var s, sa float64
				for p := 0; p < g.K; p++ {
					var a, b float64
					if g.TransA {
						a = float64(A[bi*g.StrideA+p*g.LDA+i])
					} else {
						a = float64(A[bi*g.StrideA+i*g.LDA+p])
					}
					if g.TransB {
						b = float64(B[bi*g.StrideB+j*g.LDB+p])
					} else {
						b = float64(B[bi*g.StrideB+p*g.LDB+j])
					}
					s += a * b
					sa += math.Abs(a * b)
				}
				ci := bi*g.StrideC + i*g.LDC + j
				c := out[ci]
				if g.Beta == 0 {
					c = 0
				}
				out[ci] = float64(g.Alpha)*s + float64(g.Beta)*c
				scale[ci] = math.Abs(float64(g.Alpha))*sa + math.Abs(float64(g.Beta)*c)
			}
		}
	}
	return out, scale
}

// TestGemmCrossCheck compares every backend configuration with the float64 product at sizes
// around the pure-Go kernel's block edges (4-wide micro-tiles, kc=256, mc=64, nc=512) and the
// goroutine split (32-row slabs), all four transpose combinations, padded leading dimensions,
// alpha/beta variants and strided batches.
func TestGemmCrossCheck(t *testing.T) {
	type shape struct{ m, n, k, batch int }
	shapes := []shape{
		{1, 1, 1, 1}, {3, 5, 7, 1}, {4, 4, 4, 1}, {5, 3, 1, 2}, {17, 9, 33, 3},
		{63, 65, 64, 1}, {64, 64, 255, 1}, {65, 33, 257, 1}, {31, 513, 20, 1},
		{129, 70, 513, 1}, {2, 600, 40, 1}, {197, 64, 64, 4},
	}
	if testing.Short() {
		shapes = shapes[:8]
	}
	r := rand.New(rand.NewPCG(1, 2))
	ab := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-1.25, 0.75}, {0, 2}}
	for name, be := range backends(t) {
		for si, s := range shapes {
			for tr := 0; tr < 4; tr++ {
				tA, tB := tr&1 == 1, tr&2 == 2
				co := ab[(si+tr)%len(ab)]
				pad := (si + tr) % 3 // padded leading dimensions
				g := kernels.Gemm{TransA: tA, TransB: tB, M: s.m, N: s.n, K: s.k, Alpha: co.alpha, Beta: co.beta, Batch: s.batch}
				ar, ac := s.m, s.k
				if tA {
					ar, ac = s.k, s.m
				}
				br, bc := s.k, s.n
				if tB {
					br, bc = s.n, s.k
				}
				g.LDA, g.LDB, g.LDC = ac+pad, bc+pad, s.n+pad
				g.StrideA, g.StrideB, g.StrideC = ar*g.LDA+pad, br*g.LDB, s.m*g.LDC+1
				A := randSlice(r, s.batch*g.StrideA)
				B := randSlice(r, s.batch*g.StrideB)
				C := randSlice(r, s.batch*g.StrideC)
				if co.beta == 0 {
					for i := range C {
						C[i] = float32(math.NaN()) // beta 0 must not read C
					}
				}
				want, scale := refGemm(g, A, B, C)
				bound := make([]float64, len(scale))
				for i := range scale {
					// 2K float32 roundings in the worst case (products, sums, alpha, beta).
					bound[i] = 2 * float64(s.k+2) * 0x1p-24 * scale[i]
				}
				bufA, bufB, bufC := upload(be, A), upload(be, B), upload(be, C)
				g.A, g.B, g.C = bufA, bufB, bufC
				be.Gemm(g)
				got := make([]float32, len(C))
				if err := be.Download(got, bufC); err != nil {
					t.Fatal(err)
				}
				if co.beta == 0 { // untouched gaps keep their NaN; compare only the products
					for i := range got {
						if math.IsNaN(want[i]) {
							want[i], got[i] = 0, 0
						}
					}
				}
				checkClose(t, fmt.Sprintf("%s %+v tA=%v tB=%v alpha=%g beta=%g", name, s, tA, tB, co.alpha, co.beta), got, want, bound, 1e-30, 0)
				be.Free(bufA)
				be.Free(bufB)
				be.Free(bufC)
				mustSync(t, be)
			}
		}
		if st := be.Stats(); st.LiveBytes != 0 || st.LiveAllocs != 0 {
			t.Errorf("%s: %d bytes in %d buffers still live", name, st.LiveBytes, st.LiveAllocs)
		}
	}
}

// TestGemmViews multiplies sub-ranges of larger buffers: views must be honoured exactly and the
// memory around them left alone.
func TestGemmViews(t *testing.T) {
	for name, be := range backends(t) {
		r := rand.New(rand.NewPCG(3, 4))
		big := randSlice(r, 1000)
		buf := upload(be, big)
		a, bm, c := buf.View(10, 6*7), buf.View(100, 7*5), buf.View(500, 6*5)
		be.Gemm(kernels.Gemm{M: 6, N: 5, K: 7, Alpha: 1, A: a, LDA: 7, B: bm, LDB: 5, C: c, LDC: 5})
		got := make([]float32, 1000)
		if err := be.Download(got, buf); err != nil {
			t.Fatal(err)
		}
		g := kernels.Gemm{M: 6, N: 5, K: 7, Alpha: 1, LDA: 7, LDB: 5, LDC: 5}
		want, _ := refGemm(g, big[10:], big[100:], make([]float32, 30))
		checkClose(t, name+" view product", got[500:530], want, nil, 1e-5, 1e-5)
		for i, v := range got {
			if (i < 500 || i >= 530) && v != big[i] {
				t.Fatalf("%s: element %d outside the output view changed: %g -> %g", name, i, big[i], v)
			}
		}
		be.Free(buf)
		mustSync(t, be)
	}
}

// TestGemmErrors checks that bad arguments are reported, skipped and cleared by Sync.
func TestGemmErrors(t *testing.T) {
	be := New(Options{Threads: 2})
	a, c := be.Alloc(12), be.Alloc(4)
	defer func() { be.Free(a); be.Free(c); _ = be.Sync() }()
	cases := []struct {
		name string
		g    kernels.Gemm
		want string
	}{
		{"short A", kernels.Gemm{M: 2, N: 2, K: 7, A: a, LDA: 7, B: a, LDB: 2, C: c, LDC: 2}, "operand A has 12 elements"},
		{"small lda", kernels.Gemm{M: 2, N: 2, K: 3, A: a, LDA: 2, B: a, LDB: 2, C: c, LDC: 2}, "leading dimensions"},
		{"missing C", kernels.Gemm{M: 2, N: 2, K: 3, A: a, LDA: 3, B: a, LDB: 2, LDC: 2}, "operand C is missing"},
		{"overlapping batch", kernels.Gemm{M: 1, N: 2, K: 1, A: a, LDA: 1, B: a, LDB: 2, C: c, LDC: 2, Batch: 2, StrideC: 1}, "overlap"},
	}
	for _, tc := range cases {
		be.Gemm(tc.g)
		err := be.Sync()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	if err := be.Sync(); err != nil {
		t.Errorf("Sync did not clear the error: %v", err)
	}
}
