package cuda

import (
	"fmt"
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// Parity of every forward operation with kernels/cpu on fresh random inputs, at sizes around
// the kernels' block edges: 256 threads per elementwise block, 4 rows per row-kernel block,
// 32 lanes per row, 32-column reduction blocks. Tolerances (atol + rtol*|ref|):
//   - exact (0, 0): data movement and single float32 operations (Copy, Add, Scale, AddBias,
//     gathers and scatters without repeats) are bit-identical.
//   - transcendental ops (GELU, QuickGELU, softmax): 1e-6 + 1e-5 rel. CUDA's erff/expf are within
//     2 ulp and kernels/cpu uses its own exp; summation orders differ.
//   - row reductions (LayerNorm, L2 normalise): 1e-5 + 1e-5 rel on O(1) outputs; the GPU sums 32
//     lane partials in a tree, the CPU sequentially.
//   - GEMM: c_p * sqrt(K) * max|A| * max|B|, the random-walk growth of rounding error over K
//     products, with c = 2e-6 for fp32, 1e-3 for tf32 (inputs rounded to 11 bits), 8e-3 for
//     bf16 (8 bits): about 4x the expected error of each path.

var edgeSizes = []int{1, 31, 32, 33, 255, 256, 257, 1000, 70001}

func TestParityElementwise(t *testing.T) {
	d := newDual(t, Options{})
	for _, n := range quick(edgeSizes, 7) {
		x, y := d.rand(n, -4, 4), d.rand(n, -4, 4)
		out := d.zeros(n)
		d.run(func(k kernels.Trainer, s int) { k.Add(out[s], x[s], y[s]) })
		d.check(fmt.Sprintf("Add n=%d", n), out, 0, 0)
		d.run(func(k kernels.Trainer, s int) { k.Scale(out[s], x[s], -0.37) })
		d.check(fmt.Sprintf("Scale n=%d", n), out, 0, 0)
		d.run(func(k kernels.Trainer, s int) { k.Copy(out[s], y[s]) })
		d.check(fmt.Sprintf("Copy n=%d", n), out, 0, 0)
		d.run(func(k kernels.Trainer, s int) { k.Fill(out[s], 2.5) })
		d.check(fmt.Sprintf("Fill n=%d", n), out, 0, 0)
		d.run(func(k kernels.Trainer, s int) { k.GELU(out[s], x[s]) })
		d.check(fmt.Sprintf("GELU n=%d", n), out, 1e-6, 1e-5)
		d.run(func(k kernels.Trainer, s int) { k.QuickGELU(out[s], x[s]) })
		d.check(fmt.Sprintf("QuickGELU n=%d", n), out, 1e-6, 1e-5)
		d.run(func(k kernels.Trainer, s int) { k.GELU(x[s], x[s]) }) // in place
		d.check(fmt.Sprintf("GELU in place n=%d", n), x, 1e-6, 1e-5)
	}
}

func TestParityRowsOps(t *testing.T) {
	d := newDual(t, Options{})
	for _, rows := range quick([]int{1, 3, 4, 5, 129}, 4) {
		for _, dim := range []int{1, 31, 32, 33, 768} {
			name := fmt.Sprintf("rows=%d dim=%d", rows, dim)
			x := d.rand(rows*dim, -3, 3)
			bias := d.rand(dim, -1, 1)
			y := d.put(make([]float32, rows*dim))
			d.run(func(k kernels.Trainer, s int) { k.Copy(y[s], x[s]); k.AddBias(y[s], bias[s], rows, dim) })
			d.check("AddBias "+name, y, 0, 0)

			gamma, beta := d.rand(dim, 0.5, 1.5), d.rand(dim, -0.5, 0.5)
			mean, rstd := d.zeros(rows), d.zeros(rows)
			d.run(func(k kernels.Trainer, s int) {
				k.LayerNorm(y[s], x[s], gamma[s], beta[s], mean[s], rstd[s], rows, dim, 1e-6)
			})
			d.check("LayerNorm "+name, y, 1e-5, 1e-5)
			d.check("LayerNorm mean "+name, mean, 1e-6, 1e-5)
			d.check("LayerNorm rstd "+name, rstd, 1e-6, 1e-5)

			d.run(func(k kernels.Trainer, s int) { k.Softmax(y[s], x[s], rows, dim) })
			d.check("Softmax "+name, y, 1e-6, 1e-5)
			d.run(func(k kernels.Trainer, s int) { k.L2Normalize(y[s], x[s], rows, dim, 1e-12) })
			d.check("L2Normalize "+name, y, 1e-6, 1e-5)
			d.run(func(k kernels.Trainer, s int) { k.L2Normalize(y[s], y[s], rows, dim, 0) }) // in place, eps 0
			d.check("L2Normalize in place "+name, y, 1e-6, 1e-5)

			ld := dim + 3
			wide := d.zeros(rows * ld)
			d.run(func(k kernels.Trainer, s int) { k.CopyRows(wide[s], ld, x[s], dim, rows, dim) })
			d.check("CopyRows "+name, wide, 0, 0)
		}
	}
	// A zero row: L2Normalize divides by eps, as F.normalize does.
	z := d.zeros(64)
	y := d.zeros(64)
	d.run(func(k kernels.Trainer, s int) { k.L2Normalize(y[s], z[s], 1, 64, 1e-12) })
	d.check("L2Normalize zero row", y, 0, 0)
}

func TestParityGatherScatter(t *testing.T) {
	d := newDual(t, Options{})
	for _, dim := range []int{1, 33, 768} {
		rows := 300
		src := d.rand(rows*dim, -1, 1)
		perm := d.rng.Perm(rows)[:257]
		ix := make([]int32, len(perm))
		for i, p := range perm {
			ix[i] = int32(p)
		}
		idx := d.index(ix)
		g := d.zeros(len(ix) * dim)
		d.run(func(k kernels.Trainer, s int) { k.GatherRows(g[s], src[s], idx[s], dim) })
		d.check(fmt.Sprintf("GatherRows dim=%d", dim), g, 0, 0)
		dst := d.rand(rows*dim, -1, 1)
		d.run(func(k kernels.Trainer, s int) { k.ScatterRows(dst[s], g[s], idx[s], dim) })
		d.check(fmt.Sprintf("ScatterRows dim=%d", dim), dst, 0, 0)
		// Repeated indices accumulate: every row hit up to 5 times.
		rep := make([]int32, 1000)
		for i := range rep {
			rep[i] = int32(d.rng.IntN(200))
		}
		ridx := d.index(rep)
		upd := d.rand(len(rep)*dim, -1, 1)
		d.run(func(k kernels.Trainer, s int) { k.ScatterAddRows(dst[s], upd[s], ridx[s], dim) })
		d.check(fmt.Sprintf("ScatterAddRows dim=%d", dim), dst, 1e-5, 1e-5)
	}
	// A bad index is reported at Sync, naming its position, and leaves the backend usable.
	src := d.rand(10*4, -1, 1)
	bad := d.index([]int32{0, 3, 10, 2})
	out := d.zeros(4 * 4)
	d.g.GatherRows(out[0], src[0], bad[0], 4)
	if err := d.g.Sync(); err == nil {
		t.Error("GatherRows with index 10 of 10 rows: no error at Sync")
	} else {
		t.Logf("bad index reported as: %v", err)
	}
	if err := d.g.Sync(); err != nil {
		t.Errorf("error not cleared by Sync: %v", err)
	}
}

func gemmTol(p Precision, k int, a, b float64) float64 {
	c := map[Precision]float64{FP32: 2e-6, TF32: 1e-3, BF16: 8e-3}[p]
	return c * math.Sqrt(float64(max(k, 1))) * a * b
}

// TestParityGemm covers every transpose combination, padded leading dimensions, strided
// batches, beta 0 over a C full of NaN (which must not propagate) and beta != 0, the bias
// epilogue, and each precision, at sizes around cuBLASLt tile edges and the ViT-B shapes.
func TestParityGemm(t *testing.T) {
	for _, prec := range []Precision{FP32, TF32, BF16} {
		t.Run(prec.String(), func(t *testing.T) {
			d := newDual(t, Options{Precision: prec})
			sizes := [][3]int{{1, 1, 1}, {17, 33, 65}, {128, 128, 128}, {129, 127, 255}, {197, 2304, 768}, {320, 768, 3072}}
			if emulated {
				sizes = sizes[:4] // the emulator's GEMM is a naive loop
			}
			for _, sz := range quick(sizes, 3) {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, batch := range []int{1, 3} {
						gemmCase(t, d, prec, sz[0], sz[1], sz[2], tr[0], tr[1], batch)
					}
				}
			}
		})
	}
}

func gemmCase(t *testing.T, d *dual, prec Precision, m, n, k int, ta, tb bool, batch int) {
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	g := kernels.Gemm{TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 1, LDA: ac + 1, LDB: bc, LDC: n + 2, Batch: batch}
	g.StrideA, g.StrideB, g.StrideC = ar*g.LDA, br*g.LDB+5, m*g.LDC
	A, B := d.rand(batch*g.StrideA, -1, 1), d.rand(batch*g.StrideB, -1, 1)
	nan := make([]float32, batch*g.StrideC)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	C := d.put(nan)
	name := fmt.Sprintf("%s m=%d n=%d k=%d transA=%v transB=%v batch=%d", prec, m, n, k, ta, tb, batch)
	d.run(func(kb kernels.Trainer, s int) {
		gg := g
		gg.A, gg.B, gg.C = A[s], B[s], C[s]
		kb.Gemm(gg)
	})
	// Padding columns of C stay NaN on both sides (never written); compare the whole buffer.
	tol := gemmTol(prec, k, 1, 1)
	d.checkNaNAware("Gemm beta=0 "+name, C, tol)
	d.run(func(kb kernels.Trainer, s int) {
		gg := g
		gg.A, gg.B, gg.C, gg.Alpha, gg.Beta = A[s], B[s], C[s], -0.5, 0.25
		kb.Gemm(gg)
	})
	d.checkNaNAware("Gemm beta=0.25 "+name, C, 2*tol)
	if batch == 1 {
		bias := d.rand(n, -1, 1)
		d.run(func(kb kernels.Trainer, s int) {
			gg := g
			gg.A, gg.B, gg.C = A[s], B[s], C[s]
			if s == 0 {
				d.g.GemmBias(gg, bias[0])
			} else {
				kb.Gemm(gg)
				for r := 0; r < m; r++ {
					kb.Add(C[1].View(r*g.LDC, n), C[1].View(r*g.LDC, n), bias[1])
				}
			}
		})
		d.checkNaNAware("GemmBias "+name, C, tol+1e-6)
	}
}

// checkNaNAware compares where the reference is a number and requires NaN where it is NaN.
func (d *dual) checkNaNAware(name string, p pair, atol float64) {
	d.t.Helper()
	gpu, ref := d.get(p)
	var g2, r2 []float32
	for i := range ref {
		if math.IsNaN(float64(ref[i])) {
			if !math.IsNaN(float64(gpu[i])) {
				d.t.Errorf("%s: element %d is %v on the GPU, NaN (never written) on the CPU", name, i, gpu[i])
				return
			}
			continue
		}
		g2, r2 = append(g2, gpu[i]), append(r2, ref[i])
	}
	if msg := compare(g2, r2, atol, 0); msg != "" {
		d.t.Errorf("%s: %s", name, msg)
	}
}
