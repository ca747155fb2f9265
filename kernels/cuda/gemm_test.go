package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// colMajorGemm is what cuBLASLt computes for an ltShape: column-major, element (i, j) of a
// matrix with leading dimension ld at i + j*ld, batch item b offset by b*stride.
func colMajorGemm(s ltShape, A, B, C []float32) {
	for bt := 0; bt < s.batch; bt++ {
		for i := 0; i < s.m; i++ {
			for j := 0; j < s.n; j++ {
				var acc float64
				for k := 0; k < s.k; k++ {
					var a, b float32
					if s.transA { // stored [k, m]
						a = A[bt*s.strideA+k+i*s.lda]
					} else { // stored [m, k]
						a = A[bt*s.strideA+i+k*s.lda]
					}
					if s.transB { // stored [n, k]
						b = B[bt*s.strideB+j+k*s.ldb]
					} else { // stored [k, n]
						b = B[bt*s.strideB+k+j*s.ldb]
					}
					acc += float64(a) * float64(b)
				}
				c := &C[bt*s.strideC+i+j*s.ldc]
				v := float64(s.alpha) * acc
				if s.beta != 0 {
					v += float64(s.beta) * float64(*c)
				}
				*c = float32(v)
			}
		}
	}
}

// rowMajorGemm is the kernels.Gemm contract, directly.
func rowMajorGemm(g kernels.Gemm, A, B, C []float32) {
	g = g.Normalized()
	for bt := 0; bt < g.Batch; bt++ {
		for i := 0; i < g.M; i++ {
			for j := 0; j < g.N; j++ {
				var acc float64
				for k := 0; k < g.K; k++ {
					ai, bi := bt*g.StrideA+i*g.LDA+k, bt*g.StrideB+k*g.LDB+j
					if g.TransA {
						ai = bt*g.StrideA + k*g.LDA + i
					}
					if g.TransB {
						bi = bt*g.StrideB + j*g.LDB + k
					}
					a, b := A[ai], B[bi]
					acc += float64(a) * float64(b)
				}
				c := &C[bt*g.StrideC+i*g.LDC+j]
				v := float64(g.Alpha) * acc
				if g.Beta != 0 {
					v += float64(g.Beta) * float64(*c)
				}
				*c = float32(v)
			}
		}
	}
}

// TestColMajorShapeMatchesRowMajor runs the restated (swapped) product column-major on the
// same memory and checks it equals the row-major contract, for every transpose combination,
// padded leading dimensions and strided batches: the mapping the GPU GEMMs rely on.
func TestColMajorShapeMatchesRowMajor(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {8, 1, 4}, {1, 9, 2}} {
				m, n, k := sz[0], sz[1], sz[2]
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				g := kernels.Gemm{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 1.5, Beta: 0.5,
					LDA: ac + 2, LDB: bc + 1, LDC: n + 3, Batch: 2}
				g.StrideA, g.StrideB, g.StrideC = ar*g.LDA+1, br*g.LDB, m*g.LDC+2
				A := randSlice(rng, g.StrideA*2)
				B := randSlice(rng, g.StrideB*2)
				C0 := randSlice(rng, g.StrideC*2)
				want := append([]float32(nil), C0...)
				rowMajorGemm(g, A, B, want)
				got := append([]float32(nil), C0...)
				// cuBLASLt's A is our B and its B our A.
				colMajorGemm(colMajorShape(g), B, A, got)
				for i := range want {
					if math.Abs(float64(got[i]-want[i])) > 1e-5 {
						t.Fatalf("transA=%v transB=%v %v: element %d col-major %v row-major %v", ta, tb, sz, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func TestAlignOf(t *testing.T) {
	for _, c := range []struct {
		p    uint64
		want uint32
	}{{0x1000, 16}, {0x1004, 4}, {0x1008, 8}, {0x100c, 4}, {0x1010, 16}} {
		if got := alignOf(c.p); got != c.want {
			t.Errorf("alignOf(%#x) = %d, want %d", c.p, got, c.want)
		}
	}
}

func TestAdamConstants(t *testing.T) {
	s := kernels.AdamWStep{LR: 1e-3, WeightDecay: 0.05, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Step: 3}
	c := adamConstants(s)
	if c.decay != float32(1-1e-3*0.05) || c.gscale != 1 {
		t.Errorf("decay %v gscale %v", c.decay, c.gscale)
	}
	if want := 1e-3 / (1 - 0.9*0.9*0.9); math.Abs(float64(c.lrBC1)-want) > 1e-9 {
		t.Errorf("lr/bc1 = %v, want %v", c.lrBC1, want)
	}
	if want := 1 / math.Sqrt(1-0.95*0.95*0.95); math.Abs(float64(c.invSqrtBC2)-want) > 1e-6 {
		t.Errorf("1/sqrt(bc2) = %v, want %v", c.invSqrtBC2, want)
	}
	s.GradScale = 0.25
	if adamConstants(s).gscale != 0.25 {
		t.Error("GradScale not carried")
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.Float64()*2 - 1)
	}
	return x
}
