package cpu

import (
	"math"

	"github.com/umt-dev/umt/kernels"
)

// The backward operations of kernels.Trainer on host memory. Row reductions accumulate in
// float64 like the forward LayerNorm; matrix products go through the same sgemm as Gemm.

var _ kernels.Trainer = (*Backend)(nil)

// LayerNormBackward: with x̂ = (x − mean)·rstd and g = dy·γ,
// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)); dγ += Σ_rows dy·x̂; dβ += Σ_rows dy.
func (b *Backend) LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd kernels.Buf, rows, dim int) {
	if !b.ok(shape("LayerNormBackward", rows, dim),
		kernels.Need("LayerNormBackward", "dx", dx, rows*dim, kernels.F32),
		kernels.Need("LayerNormBackward", "dy", dy, rows*dim, kernels.F32),
		kernels.Need("LayerNormBackward", "x", x, rows*dim, kernels.F32),
		kernels.Need("LayerNormBackward", "gamma", gamma, dim, kernels.F32),
		kernels.Need("LayerNormBackward", "mean", mean, rows, kernels.F32),
		kernels.Need("LayerNormBackward", "rstd", rstd, rows, kernels.F32)) || rows == 0 || dim == 0 {
		return
	}
	dxs, dys, xs := b.f32(dx, "LayerNormBackward"), b.f32(dy, "LayerNormBackward"), b.f32(x, "LayerNormBackward")
	g, ms, rs := b.f32(gamma, "LayerNormBackward"), b.f32(mean, "LayerNormBackward"), b.f32(rstd, "LayerNormBackward")
	var dg, db []float32
	if !dgamma.IsZero() {
		if !b.ok(kernels.Need("LayerNormBackward", "dgamma", dgamma, dim, kernels.F32)) {
			return
		}
		dg = b.f32(dgamma, "LayerNormBackward")
	}
	if !dbeta.IsZero() {
		if !b.ok(kernels.Need("LayerNormBackward", "dbeta", dbeta, dim, kernels.F32)) {
			return
		}
		db = b.f32(dbeta, "LayerNormBackward")
	}
	if b.err != nil {
		return
	}
	// Per-chunk partial sums of dγ, dβ in float64, reduced in chunk order (deterministic).
	type part struct{ dg, db []float64 }
	nparts := b.threads
	parts := make([]part, nparts)
	chunk := (rows + nparts - 1) / nparts
	b.parallel(nparts, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			r0, r1 := p*chunk, min((p+1)*chunk, rows)
			pdg, pdb := make([]float64, dim), make([]float64, dim)
			for r := r0; r < r1; r++ {
				xr, dyr, dxr := xs[r*dim:r*dim+dim], dys[r*dim:r*dim+dim], dxs[r*dim:r*dim+dim]
				mu, inv := float64(ms[r]), float64(rs[r])
				var sg, sgx float64
				for j := range xr {
					xh := (float64(xr[j]) - mu) * inv
					gj := float64(dyr[j]) * float64(g[j])
					sg += gj
					sgx += gj * xh
					pdg[j] += float64(dyr[j]) * xh
					pdb[j] += float64(dyr[j])
				}
				sg /= float64(dim)
				sgx /= float64(dim)
				for j := range xr {
					xh := (float64(xr[j]) - mu) * inv
					gj := float64(dyr[j]) * float64(g[j])
					dxr[j] = float32(inv * (gj - sg - xh*sgx))
				}
			}
			parts[p] = part{pdg, pdb}
		}
	})
	for _, p := range parts {
		if p.dg == nil {
			continue
		}
		for j := 0; j < dim; j++ {
			if dg != nil {
				dg[j] += float32(p.dg[j])
			}
			if db != nil {
				db[j] += float32(p.db[j])
			}
		}
	}
}

// GELUBackward: GELU'(x) = Φ(x) + x·φ(x) for the exact erf GELU. Φ(x) = ½(1 + erf(x/√2)) is
// evaluated with the Abramowitz–Stegun 7.1.26 rational form, |erf error| ≤ 1.5e-7, sharing the
// one exp(−x²/2) it needs with φ; in float64, so the result is within 1e-7 of the erf-exact
// derivative (geluGradExact, checked by TestGELUBackwardMatchesExact) — the float32 rounding
// of a value near 1 — at a quarter of math.Erf's cost.
func (b *Backend) GELUBackward(dx, dy, x kernels.Buf) {
	if !b.ok(kernels.SameLen("GELUBackward", x.Len(), dx, dy, x)) {
		return
	}
	dxs, dys, xs := b.f32(dx, "GELUBackward"), b.f32(dy, "GELUBackward"), b.f32(x, "GELUBackward")
	b.parallel(len(xs), elemGrain, func(lo, hi int) {
		xx, dd, oo := xs[lo:hi], dys[lo:hi], dxs[lo:hi]
		for i, v := range xx {
			oo[i] = float32(float64(dd[i]) * geluGrad(float64(v)))
		}
	})
}

// geluGrad is Φ(x) + x·φ(x) with Φ from A&S 7.1.26 (see GELUBackward).
func geluGrad(x float64) float64 {
	const (
		p                  = 0.3275911
		a1, a2, a3, a4, a5 = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429
		invSqrt2           = 0.7071067811865476
		invSqrt2Pi         = 0.3989422804014327
	)
	e := math.Exp(-0.5 * x * x) // exp(−z²) for z = x/√2, and √(2π)·φ(x)
	z := math.Abs(x) * invSqrt2
	t := 1 / (1 + p*z)
	erf := 1 - t*(a1+t*(a2+t*(a3+t*(a4+t*a5))))*e
	if x < 0 {
		erf = -erf
	}
	return 0.5*(1+erf) + x*e*invSqrt2Pi
}

// geluGradExact is the reference: Φ via math.Erf.
func geluGradExact(x float64) float64 {
	return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

// AttentionBackward, per (batch, head) with P the saved probabilities:
// dV = Pᵀ·dO; dP = dO·Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ = Scale·dS·K; dK = Scale·dSᵀ·Q.
func (b *Backend) AttentionBackward(g kernels.AttentionGrad) {
	if !b.ok(g.Check()) {
		return
	}
	q, k, v := b.f32(g.Q, "AttentionBackward"), b.f32(g.K, "AttentionBackward"), b.f32(g.V, "AttentionBackward")
	probs, dout := b.f32(g.Probs, "AttentionBackward"), b.f32(g.DOut, "AttentionBackward")
	dq, dk, dv := b.f32(g.DQ, "AttentionBackward"), b.f32(g.DK, "AttentionBackward"), b.f32(g.DV, "AttentionBackward")
	if b.err != nil {
		return
	}
	w, lq, lk, dh := g.H*g.Dh, g.Lq, g.Lk, g.Dh
	for len(b.scratch) < b.threads {
		b.scratch = append(b.scratch, nil)
	}
	b.parallelWorkers(g.B*g.H, func(worker, item int) {
		bi, h := item/g.H, item%g.H
		if cap(b.scratch[worker]) < lq*lk {
			b.scratch[worker] = make([]float32, lq*lk)
		}
		dp := b.scratch[worker][:lq*lk]
		p := probs[item*lq*lk : (item+1)*lq*lk]
		do := dout[bi*lq*w+h*dh:]
		qo, ko := bi*g.QBatch+h*dh, bi*g.KVBatch+h*dh
		b.sgemm(true, false, lk, dh, lq, 1, p, lk, do, w, 0, dv[ko:], g.KVRow) // dV [Lk, Dh]
		b.sgemm(false, true, lq, lk, dh, 1, do, w, v[ko:], g.KVRow, 0, dp, lk) // dP [Lq, Lk]
		for r := 0; r < lq; r++ {
			pr, dr := p[r*lk:r*lk+lk], dp[r*lk:r*lk+lk]
			var s float64
			for j := range pr {
				s += float64(pr[j]) * float64(dr[j])
			}
			s32 := float32(s)
			for j := range pr {
				dr[j] = pr[j] * (dr[j] - s32)
			}
		}
		b.sgemm(false, false, lq, dh, lk, g.Scale, dp, lk, k[ko:], g.KVRow, 0, dq[qo:], g.QRow) // dQ [Lq, Dh]
		b.sgemm(true, false, lk, dh, lq, g.Scale, dp, lk, q[qo:], g.QRow, 0, dk[ko:], g.KVRow)  // dK [Lk, Dh]
	})
}

// L2NormalizeBackward: with y = x/n, n = max(‖x‖, eps): dx = (dy − y·⟨y, dy⟩)/n when ‖x‖ > eps,
// else dy/eps.
func (b *Backend) L2NormalizeBackward(dx, dy, x kernels.Buf, rows, dim int, eps float32) {
	dxs, xs := b.rows2("L2NormalizeBackward", dx, x, rows, dim)
	if dxs == nil || dim == 0 || !b.ok(kernels.Need("L2NormalizeBackward", "dy", dy, rows*dim, kernels.F32)) {
		return
	}
	dys := b.f32(dy, "L2NormalizeBackward")
	b.parallel(rows, max(1, elemGrain/dim), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := xs[r*dim:r*dim+dim], dys[r*dim:r*dim+dim], dxs[r*dim:r*dim+dim]
			var ss, sd float64
			for j := range xr {
				ss += float64(xr[j]) * float64(xr[j])
				sd += float64(xr[j]) * float64(dyr[j])
			}
			n := math.Sqrt(ss)
			if n <= float64(eps) {
				inv := 1 / float64(eps)
				for j := range xr {
					dxr[j] = float32(float64(dyr[j]) * inv)
				}
				continue
			}
			inv := 1 / n
			c := sd * inv * inv // ⟨y, dy⟩ / n
			for j := range xr {
				dxr[j] = float32((float64(dyr[j]) - float64(xr[j])*c) * inv)
			}
		}
	})
}

// SumRows adds the column sums of x [rows, dim] to dst [dim], in float64 per column.
func (b *Backend) SumRows(dst, x kernels.Buf, rows, dim int) {
	if !b.ok(shape("SumRows", rows, dim), kernels.Need("SumRows", "dst", dst, dim, kernels.F32),
		kernels.Need("SumRows", "x", x, rows*dim, kernels.F32)) {
		return
	}
	d, xs := b.f32(dst, "SumRows"), b.f32(x, "SumRows")
	b.parallel(dim, 64, func(lo, hi int) {
		acc := make([]float64, hi-lo)
		for r := 0; r < rows; r++ {
			row := xs[r*dim+lo : r*dim+hi]
			for j, v := range row {
				acc[j] += float64(v)
			}
		}
		for j, a := range acc {
			d[lo+j] += float32(a)
		}
	})
}

// ScaleRows writes y[r, :] = s[r]·x[r, :].
func (b *Backend) ScaleRows(y, x, s kernels.Buf, rows, dim int) {
	ys, xs := b.rows2("ScaleRows", y, x, rows, dim)
	if ys == nil || !b.ok(kernels.Need("ScaleRows", "s", s, rows, kernels.F32)) {
		return
	}
	ss := b.f32(s, "ScaleRows")
	b.parallel(rows*dim, elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = xs[i] * ss[i/dim]
		}
	})
}

// AlignmentLoss: loss = mean_r(2 − 2⟨s_r, t_r⟩) in float64; ds = −2t/rows.
func (b *Backend) AlignmentLoss(loss, ds, s, t kernels.Buf, rows, dim int) {
	dss, ts := b.rows2("AlignmentLoss", ds, t, rows, dim)
	if dss == nil || rows == 0 || !b.ok(kernels.Need("AlignmentLoss", "s", s, rows*dim, kernels.F32),
		kernels.Need("AlignmentLoss", "loss", loss, 1, kernels.F32)) {
		return
	}
	ss, l := b.f32(s, "AlignmentLoss"), b.f32(loss, "AlignmentLoss")
	parts := make([]float64, rows)
	scale := float32(-2 / float64(rows))
	b.parallel(rows, max(1, elemGrain/max(dim, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			var d float64
			for j := r * dim; j < r*dim+dim; j++ {
				d += float64(ss[j]) * float64(ts[j])
				dss[j] = scale * ts[j]
			}
			parts[r] = 2 - 2*d
		}
	})
	var sum float64
	for _, p := range parts {
		sum += p
	}
	l[0] = float32(sum / float64(rows))
}

// SumSquares writes out[0] = Σx² accumulated in float64 (per-chunk partials, fixed order).
func (b *Backend) SumSquares(out, x kernels.Buf) {
	if !b.ok(kernels.Need("SumSquares", "out", out, 1, kernels.F32), kernels.Need("SumSquares", "x", x, x.Len(), kernels.F32)) {
		return
	}
	o, xs := b.f32(out, "SumSquares"), b.f32(x, "SumSquares")
	const chunk = 1 << 16
	n := (len(xs) + chunk - 1) / chunk
	parts := make([]float64, n)
	b.parallel(n, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for _, v := range xs[c*chunk : min((c+1)*chunk, len(xs))] {
				s += float64(v) * float64(v)
			}
			parts[c] = s
		}
	})
	var s float64
	for _, p := range parts {
		s += p
	}
	o[0] = float32(s)
}

// AdamW applies torch.optim.AdamW's update elementwise in float32, with the bias corrections
// and step size computed in float64 as PyTorch computes its Python scalars.
func (b *Backend) AdamW(st kernels.AdamWStep) {
	if !b.ok(st.Check()) {
		return
	}
	p, g, m, v := b.f32(st.Param, "AdamW"), b.f32(st.Grad, "AdamW"), b.f32(st.M, "AdamW"), b.f32(st.V, "AdamW")
	gs := st.GradScale
	if gs == 0 {
		gs = 1
	}
	bc1 := 1 - math.Pow(st.Beta1, float64(st.Step))
	bc2 := 1 - math.Pow(st.Beta2, float64(st.Step))
	decay := float32(1 - st.LR*st.WeightDecay)
	stepSize := float32(st.LR / bc1)
	bc2s := float32(math.Sqrt(bc2))
	b1, b2, eps, g32 := float32(st.Beta1), float32(st.Beta2), float32(st.Eps), float32(gs)
	b.parallel(len(p), elemGrain, func(lo, hi int) {
		adamwChunk(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], decay, b1, b2, g32, eps, bc2s, stepSize)
	})
}

// adamwChunk is the elementwise update; the slices have equal lengths (re-sliced so the compiler
// drops the bounds checks).
func adamwChunk(p, g, m, v []float32, decay, b1, b2, gs, eps, bc2s, stepSize float32) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	c1, c2 := 1-b1, 1-b2
	for i := range p {
		gi := g[i] * gs
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))/bc2s + eps
		p[i] = p[i]*decay - stepSize*mi/denom
	}
}
