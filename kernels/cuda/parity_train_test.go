package cuda

import (
	"fmt"
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// Parity of the Trainer operations. Parameter gradients accumulate, so each test starts them
// from a non-zero value to check the += contract. Tolerances: reductions over many rows (dgamma,
// dbeta, SumRows) use 1e-5 * sqrt(rows) of the largest reference value (float32 atomics of
// per-block partials against the CPU's float64 columns); per-row backward outputs 1e-5 + 1e-5
// rel; the float64-accumulated losses 1e-6 rel.

func TestParityLayerNormBackward(t *testing.T) {
	d := newDual(t, Options{})
	for _, rows := range quick([]int{1, 5, 255, 257, 2049}, 4) {
		for _, dim := range []int{31, 33, 768} {
			name := fmt.Sprintf("rows=%d dim=%d", rows, dim)
			x, dy := d.rand(rows*dim, -2, 2), d.rand(rows*dim, -1, 1)
			gamma, beta := d.rand(dim, 0.5, 1.5), d.rand(dim, -0.5, 0.5)
			y, mean, rstd := d.zeros(rows*dim), d.zeros(rows), d.zeros(rows)
			dx, dg, db := d.zeros(rows*dim), d.rand(dim, -1, 1), d.rand(dim, -1, 1)
			d.run(func(k kernels.Trainer, s int) {
				k.LayerNorm(y[s], x[s], gamma[s], beta[s], mean[s], rstd[s], rows, dim, 1e-6)
				k.LayerNormBackward(dx[s], dg[s], db[s], dy[s], x[s], gamma[s], mean[s], rstd[s], rows, dim)
			})
			d.check("LayerNormBackward dx "+name, dx, 1e-5, 1e-5)
			red := 1e-5 * math.Sqrt(float64(rows))
			_, g := d.get(dg)
			d.check("LayerNormBackward dgamma "+name, dg, red*max(1, maxAbs(g)), 0)
			_, b := d.get(db)
			d.check("LayerNormBackward dbeta "+name, db, red*max(1, maxAbs(b)), 0)
			d.run(func(k kernels.Trainer, s int) { // in place: dx aliases dy, no parameter gradients
				k.LayerNormBackward(dy[s], kernels.Buf{}, kernels.Buf{}, dy[s], x[s], gamma[s], mean[s], rstd[s], rows, dim)
			})
			d.check("LayerNormBackward in place "+name, dy, 1e-5, 1e-5)
		}
	}
}

func TestParityPointwiseBackward(t *testing.T) {
	d := newDual(t, Options{})
	for _, n := range quick(edgeSizes, 7) {
		x, dy, dx := d.rand(n, -4, 4), d.rand(n, -1, 1), d.zeros(n)
		d.run(func(k kernels.Trainer, s int) { k.GELUBackward(dx[s], dy[s], x[s]) })
		d.check(fmt.Sprintf("GELUBackward n=%d", n), dx, 1e-6, 1e-5)
	}
	for _, rows := range quick([]int{1, 4, 5, 1000}, 3) {
		for _, dim := range []int{1, 33, 512} {
			name := fmt.Sprintf("rows=%d dim=%d", rows, dim)
			x, dy, dx := d.rand(rows*dim, -1, 1), d.rand(rows*dim, -1, 1), d.zeros(rows*dim)
			d.run(func(k kernels.Trainer, s int) { k.L2NormalizeBackward(dx[s], dy[s], x[s], rows, dim, 1e-12) })
			d.check("L2NormalizeBackward "+name, dx, 1e-5, 1e-5)
			sc, y := d.rand(rows, -2, 2), d.zeros(rows*dim)
			d.run(func(k kernels.Trainer, s int) { k.ScaleRows(y[s], x[s], sc[s], rows, dim) })
			d.check("ScaleRows "+name, y, 0, 0)
			sum := d.rand(dim, -1, 1)
			d.run(func(k kernels.Trainer, s int) { k.SumRows(sum[s], x[s], rows, dim) })
			d.check("SumRows "+name, sum, 1e-5*math.Sqrt(float64(rows)), 0)
		}
	}
}

func TestParityLossesAndAdamW(t *testing.T) {
	d := newDual(t, Options{})
	// The stage-1 shape: 6 layers x 64 clips x 320 visible tokens, 512-d unit vectors.
	for _, rows := range quick([]int{1, 3, 5, 4097, 6 * 64 * 320}, 4) {
		dim := 512
		s, tt := d.rand(rows*dim, -1, 1), d.rand(rows*dim, -1, 1)
		d.run(func(k kernels.Trainer, side int) {
			k.L2Normalize(s[side], s[side], rows, dim, 0)
			k.L2Normalize(tt[side], tt[side], rows, dim, 0)
		})
		loss, ds := d.zeros(1), d.zeros(rows*dim)
		d.run(func(k kernels.Trainer, side int) { k.AlignmentLoss(loss[side], ds[side], s[side], tt[side], rows, dim) })
		d.check(fmt.Sprintf("AlignmentLoss loss rows=%d", rows), loss, 0, 1e-6)
		d.check(fmt.Sprintf("AlignmentLoss ds rows=%d", rows), ds, 0, 1e-6)
	}
	for _, n := range quick(edgeSizes, 7) {
		x, out := d.rand(n, -1, 1), d.zeros(1)
		d.run(func(k kernels.Trainer, s int) { k.SumSquares(out[s], x[s]) })
		d.check(fmt.Sprintf("SumSquares n=%d", n), out, 0, 1e-6)
	}
	// Two AdamW steps over a flat buffer the size of a few layers; weight decay and a gradient
	// scale. 1e-6 + 1e-5 rel: the same float32 formula on both sides, constants from float64.
	n := 3*768*768 + 5
	if emulated && !emuFull {
		n = 70001
	}
	p, g, m, v := d.rand(n, -0.1, 0.1), d.rand(n, -1e-2, 1e-2), d.zeros(n), d.zeros(n)
	for step := 1; step <= 2; step++ {
		d.run(func(k kernels.Trainer, s int) {
			k.AdamW(kernels.AdamWStep{Param: p[s], Grad: g[s], M: m[s], V: v[s], LR: 1.2e-3, WeightDecay: 0.05,
				Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, Step: step, GradScale: 0.5})
		})
	}
	d.check("AdamW param", p, 1e-6, 1e-5)
	d.check("AdamW m", m, 1e-9, 1e-5)
	d.check("AdamW v", v, 1e-12, 1e-5)
}
