package cuda

import (
	"math"

	"github.com/umt-dev/umt/kernels"
)

// The kernels.Trainer operations: backward kernels, reductions and the fused AdamW step.

// LayerNormBackward writes dx and adds dgamma, dbeta (either may be the zero Buf).
func (b *Backend) LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd kernels.Buf, rows, dim int) {
	if rows*dim == 0 {
		return
	}
	op := "LayerNormBackward"
	errs := []error{kernels.Need(op, "dx", dx, rows*dim, kernels.F32), kernels.Need(op, "dy", dy, rows*dim, kernels.F32),
		kernels.Need(op, "x", x, rows*dim, kernels.F32), kernels.Need(op, "gamma", gamma, dim, kernels.F32),
		kernels.Need(op, "mean", mean, rows, kernels.F32), kernels.Need(op, "rstd", rstd, rows, kernels.F32)}
	if !dgamma.IsZero() {
		errs = append(errs, kernels.Need(op, "dgamma", dgamma, dim, kernels.F32))
	}
	if !dbeta.IsZero() {
		errs = append(errs, kernels.Need(op, "dbeta", dbeta, dim, kernels.F32))
	}
	if !b.ok(errs...) {
		return
	}
	pdy, px, pm, pr := b.dptr(dy, op), b.dptr(x, op), b.dptr(mean, op), b.dptr(rstd, op)
	// Parameter gradients first: dx may alias dy.
	if !dgamma.IsZero() || !dbeta.IsZero() {
		gx, gy, per := colsumGrid(rows, dim)
		b.launch("layernorm_bwd_params", [3]int{gx, gy, 1}, [3]int{32, 8, 1},
			b.dptr(dgamma, op), b.dptr(dbeta, op), pdy, px, pm, pr, rows, dim, per)
	}
	g, t := b.rows(rows)
	b.launch("layernorm_bwd_dx", g, t, b.dptr(dx, op), pdy, px, b.dptr(gamma, op), pm, pr, rows, dim)
}

// GELUBackward writes dx = dy * GELU'(x).
func (b *Backend) GELUBackward(dx, dy, x kernels.Buf) {
	if !b.ok(kernels.SameLen("GELUBackward", dx.Len(), dx, dy, x)) || dx.Len() == 0 {
		return
	}
	g, t := b.ew(dx.Len())
	b.launch("gelu_bwd_f32", g, t, b.dptr(dx, "GELUBackward"), b.dptr(dy, "GELUBackward"), b.dptr(x, "GELUBackward"), int64(dx.Len()))
}

// L2NormalizeBackward writes dx from dy and the forward input x.
func (b *Backend) L2NormalizeBackward(dx, dy, x kernels.Buf, rows, dim int, eps float32) {
	op := "L2NormalizeBackward"
	if rows*dim == 0 || !b.ok(kernels.Need(op, "dx", dx, rows*dim, kernels.F32), kernels.Need(op, "dy", dy, rows*dim, kernels.F32),
		kernels.Need(op, "x", x, rows*dim, kernels.F32)) {
		return
	}
	g, t := b.rows(rows)
	b.launch("l2norm_bwd", g, t, b.dptr(dx, op), b.dptr(dy, op), b.dptr(x, op), rows, dim, eps)
}

// SumRows adds the column sums of x [rows, dim] to dst [dim].
func (b *Backend) SumRows(dst, x kernels.Buf, rows, dim int) {
	if rows*dim == 0 || !b.ok(kernels.Need("SumRows", "dst", dst, dim, kernels.F32), kernels.Need("SumRows", "x", x, rows*dim, kernels.F32)) {
		return
	}
	gx, gy, per := colsumGrid(rows, dim)
	b.launch("sum_rows_f32", [3]int{gx, gy, 1}, [3]int{32, 8, 1}, b.dptr(dst, "SumRows"), b.dptr(x, "SumRows"), rows, dim, per)
}

// ScaleRows writes y[r, :] = s[r] * x[r, :].
func (b *Backend) ScaleRows(y, x, s kernels.Buf, rows, dim int) {
	op := "ScaleRows"
	if rows*dim == 0 || !b.ok(kernels.Need(op, "y", y, rows*dim, kernels.F32), kernels.Need(op, "x", x, rows*dim, kernels.F32),
		kernels.Need(op, "s", s, rows, kernels.F32)) {
		return
	}
	g, t := b.ew(rows * dim)
	b.launch("scale_rows_f32", g, t, b.dptr(y, op), b.dptr(x, op), b.dptr(s, op), int64(rows), dim)
}

// AlignmentLoss writes loss[0] = mean_r (2 - 2<s_r, t_r>) (float64 accumulation, two-stage and
// deterministic) and ds = -2 t / rows.
func (b *Backend) AlignmentLoss(loss, ds, s, t kernels.Buf, rows, dim int) {
	op := "AlignmentLoss"
	if !b.ok(kernels.Need(op, "loss", loss, 1, kernels.F32), kernels.Need(op, "ds", ds, rows*dim, kernels.F32),
		kernels.Need(op, "s", s, rows*dim, kernels.F32), kernels.Need(op, "t", t, rows*dim, kernels.F32)) {
		return
	}
	if rows == 0 {
		b.Fill(loss.View(0, 1), 0)
		return
	}
	nb := rowGrid(rows)
	part, done := b.temp(nb)
	defer done()
	if b.err != nil {
		return
	}
	b.launch("align_loss_partial", grid1(nb), block1(32*rowWarps), part, b.dptr(ds, op), b.dptr(s, op), b.dptr(t, op), rows, dim)
	b.launch("finish_sum", grid1(1), block1(1024), b.dptr(loss, op), part, nb, 1/float64(rows))
}

// SumSquares writes out[0] = sum of x^2 (float64 accumulation, two-stage, deterministic).
func (b *Backend) SumSquares(out, x kernels.Buf) {
	if !b.ok(kernels.Need("SumSquares", "out", out, 1, kernels.F32), kernels.Need("SumSquares", "x", x, 0, kernels.F32)) {
		return
	}
	nb := reduceBlocks(x.Len(), blockThreads, b.dev.sms)
	part, done := b.temp(nb)
	defer done()
	if b.err != nil {
		return
	}
	if x.Len() > 0 {
		b.launch("sumsq_partial", grid1(nb), block1(blockThreads), part, b.dptr(x, "SumSquares"), int64(x.Len()))
	} else {
		nb = 0
	}
	b.launch("finish_sum", grid1(1), block1(1024), b.dptr(out, "SumSquares"), part, nb, 1.0)
}

// AdamW applies one fused AdamW step over a flat parameter buffer (float32 master weights);
// the step-dependent constants are computed here in float64.
func (b *Backend) AdamW(s kernels.AdamWStep) {
	if !b.ok(s.Check()) || s.Param.Len() == 0 {
		return
	}
	c := adamConstants(s)
	op := "AdamW"
	g, t := b.ew(s.Param.Len())
	b.launch("adamw_f32", g, t, b.dptr(s.Param, op), b.dptr(s.Grad, op), b.dptr(s.M, op), b.dptr(s.V, op),
		int64(s.Param.Len()), c.decay, c.lrBC1, c.invSqrtBC2, float32(s.Beta1), float32(s.Beta2), float32(s.Eps), c.gscale)
}

// adamScalars are the per-step constants of the AdamW kernel.
type adamScalars struct {
	decay, lrBC1, invSqrtBC2, gscale float32
}

// adamConstants computes them in float64: decay = 1 - lr*wd, lr / (1 - b1^t),
// 1 / sqrt(1 - b2^t), and the gradient scale (0 means 1).
func adamConstants(s kernels.AdamWStep) adamScalars {
	gs := s.GradScale
	if gs == 0 {
		gs = 1
	}
	bc1 := 1 - math.Pow(s.Beta1, float64(s.Step))
	bc2 := 1 - math.Pow(s.Beta2, float64(s.Step))
	return adamScalars{
		decay:      float32(1 - s.LR*s.WeightDecay),
		lrBC1:      float32(s.LR / bc1),
		invSqrtBC2: float32(1 / math.Sqrt(bc2)),
		gscale:     float32(gs),
	}
}
