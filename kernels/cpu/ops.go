package cpu

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
)

// elemGrain is the smallest number of elements an elementwise goroutine gets.
const elemGrain = 1 << 14

// rows2 fetches two float32 operands of a row operation and checks their lengths.
func (b *Backend) rows2(op string, y, x kernels.Buf, rows, dim int) (ys, xs []float32) {
	if !b.ok(
		shape(op, rows, dim),
		kernels.Need(op, "y", y, rows*dim, kernels.F32),
		kernels.Need(op, "x", x, rows*dim, kernels.F32),
	) {
		return nil, nil
	}
	ys, xs = b.f32(y, op), b.f32(x, op)
	if ys == nil || xs == nil {
		return nil, nil
	}
	return ys[:rows*dim], xs[:rows*dim]
}

func shape(op string, rows, dim int) error {
	if rows < 0 || dim < 0 {
		return fmt.Errorf("kernels.%s: negative shape [%d, %d]", op, rows, dim)
	}
	return nil
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x kernels.Buf, v float32) {
	if !b.ok() {
		return
	}
	xs := b.f32(x, "Fill")
	if b.err != nil {
		return
	}
	b.parallel(len(xs), elemGrain, func(lo, hi int) {
		s := xs[lo:hi]
		for i := range s {
			s[i] = v
		}
	})
}

// Copy copies src into dst (same length).
func (b *Backend) Copy(dst, src kernels.Buf) {
	if !b.ok(kernels.SameLen("Copy", dst.Len(), dst, src)) {
		return
	}
	d, s := b.f32(dst, "Copy"), b.f32(src, "Copy")
	if b.err != nil {
		return
	}
	b.parallel(len(d), elemGrain, func(lo, hi int) { copy(d[lo:hi], s[lo:hi]) })
}

// CopyRows copies a [rows, cols] block between row strides.
func (b *Backend) CopyRows(dst kernels.Buf, ldDst int, src kernels.Buf, ldSrc int, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	if !b.ok(shape("CopyRows", rows, cols)) {
		return
	}
	if ldDst < cols || ldSrc < cols {
		b.failf("kernels.CopyRows: row strides %d, %d shorter than the %d columns copied", ldDst, ldSrc, cols)
		return
	}
	if !b.ok(
		kernels.Need("CopyRows", "dst", dst, (rows-1)*ldDst+cols, kernels.F32),
		kernels.Need("CopyRows", "src", src, (rows-1)*ldSrc+cols, kernels.F32),
	) {
		return
	}
	d, s := b.f32(dst, "CopyRows"), b.f32(src, "CopyRows")
	if b.err != nil {
		return
	}
	b.parallel(rows, max(1, elemGrain/cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(d[r*ldDst:r*ldDst+cols], s[r*ldSrc:r*ldSrc+cols])
		}
	})
}

// AddBias adds bias [dim] to every row of x [rows, dim].
func (b *Backend) AddBias(x, bias kernels.Buf, rows, dim int) {
	if !b.ok(shape("AddBias", rows, dim),
		kernels.Need("AddBias", "x", x, rows*dim, kernels.F32),
		kernels.Need("AddBias", "bias", bias, dim, kernels.F32)) {
		return
	}
	xs, bs := b.f32(x, "AddBias"), b.f32(bias, "AddBias")
	if b.err != nil {
		return
	}
	bs = bs[:dim]
	b.parallel(rows, max(1, elemGrain/max(dim, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xs[r*dim : r*dim+dim]
			for j, v := range bs {
				row[j] += v
			}
		}
	})
}

// Add computes y = a + b elementwise.
func (b *Backend) Add(y, a, c kernels.Buf) {
	if !b.ok(kernels.SameLen("Add", y.Len(), y, a, c)) {
		return
	}
	ys, as, cs := b.f32(y, "Add"), b.f32(a, "Add"), b.f32(c, "Add")
	if b.err != nil {
		return
	}
	b.parallel(len(ys), elemGrain, func(lo, hi int) {
		yy, aa, cc := ys[lo:hi], as[lo:hi], cs[lo:hi]
		for i := range yy {
			yy[i] = aa[i] + cc[i]
		}
	})
}

// Scale computes y = alpha * x.
func (b *Backend) Scale(y, x kernels.Buf, alpha float32) {
	b.unary("Scale", y, x, func(v float32) float32 { return alpha * v })
}

// unary applies f elementwise.
func (b *Backend) unary(op string, y, x kernels.Buf, f func(float32) float32) {
	if !b.ok(kernels.SameLen(op, y.Len(), y, x)) {
		return
	}
	ys, xs := b.f32(y, op), b.f32(x, op)
	if b.err != nil {
		return
	}
	b.parallel(len(ys), elemGrain, func(lo, hi int) {
		yy, xx := ys[lo:hi], xs[lo:hi]
		for i, v := range xx {
			yy[i] = f(v)
		}
	})
}

// GELU is the exact erf GELU.
func (b *Backend) GELU(y, x kernels.Buf) {
	b.unary("GELU", y, x, func(v float32) float32 {
		return float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	})
}

// QuickGELU is x * sigmoid(1.702 x).
func (b *Backend) QuickGELU(y, x kernels.Buf) {
	if !b.ok(kernels.SameLen("QuickGELU", y.Len(), y, x)) {
		return
	}
	ys, xs := b.f32(y, "QuickGELU"), b.f32(x, "QuickGELU")
	if b.err != nil {
		return
	}
	b.parallel(len(ys), elemGrain, func(lo, hi int) {
		if b.pureGo {
			quickGELU(ys[lo:hi], xs[lo:hi])
		} else {
			quickGELUC(ys[lo:hi], xs[lo:hi])
		}
	})
}

// softmaxRows is softmax over each row of s [rows, cols] in place: the vectorised C loop when
// linked (and not disabled by Options.PureGo), else softmaxRow.
func (b *Backend) softmaxRows(s []float32, rows, cols int) {
	if !b.pureGo {
		softmaxRowsC(s, rows, cols)
		return
	}
	for r := 0; r < rows; r++ {
		softmaxRow(s[r*cols:(r+1)*cols], s[r*cols:(r+1)*cols])
	}
}

// quickGELU is the loop of QuickGELU. The argument of exp is formed in float64: in float32 its
// rounding alone costs up to 1e-6 relative for large |x|.
func quickGELU(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = float32(float64(v) / (1 + expCore(clampExp(-1.702*float64(v)))))
	}
}

// LayerNorm normalises rows; statistics are accumulated in float64.
func (b *Backend) LayerNorm(y, x, gamma, beta, mean, rstd kernels.Buf, rows, dim int, eps float32) {
	ys, xs := b.rows2("LayerNorm", y, x, rows, dim)
	if ys == nil || !b.ok(kernels.Need("LayerNorm", "gamma", gamma, dim, kernels.F32),
		kernels.Need("LayerNorm", "beta", beta, dim, kernels.F32)) {
		return
	}
	if dim == 0 {
		b.failf("kernels.LayerNorm: dim is 0")
		return
	}
	var ms, rs []float32
	if !mean.IsZero() {
		if !b.ok(kernels.Need("LayerNorm", "mean", mean, rows, kernels.F32)) {
			return
		}
		ms = b.f32(mean, "LayerNorm")
	}
	if !rstd.IsZero() {
		if !b.ok(kernels.Need("LayerNorm", "rstd", rstd, rows, kernels.F32)) {
			return
		}
		rs = b.f32(rstd, "LayerNorm")
	}
	g, bt := b.f32(gamma, "LayerNorm"), b.f32(beta, "LayerNorm")
	if b.err != nil {
		return
	}
	g, bt = g[:dim], bt[:dim]
	b.parallel(rows, max(1, elemGrain/dim), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xs[r*dim:r*dim+dim], ys[r*dim:r*dim+dim]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			mu := s / float64(dim)
			var v2 float64
			for _, v := range xr {
				d := float64(v) - mu
				v2 += d * d
			}
			inv := 1 / math.Sqrt(v2/float64(dim)+float64(eps))
			m32, r32 := float32(mu), float32(inv)
			for j, v := range xr {
				yr[j] = (v-m32)*r32*g[j] + bt[j]
			}
			if ms != nil {
				ms[r] = m32
			}
			if rs != nil {
				rs[r] = r32
			}
		}
	})
}

// Softmax over each row.
func (b *Backend) Softmax(y, x kernels.Buf, rows, cols int) {
	ys, xs := b.rows2("Softmax", y, x, rows, cols)
	if ys == nil || cols == 0 {
		return
	}
	b.parallel(rows, max(1, elemGrain/cols), func(lo, hi int) {
		if &ys[0] != &xs[0] {
			copy(ys[lo*cols:hi*cols], xs[lo*cols:hi*cols])
		}
		b.softmaxRows(ys[lo*cols:hi*cols], hi-lo, cols)
	})
}

// softmaxRow writes softmax(x) into y (y may alias x).
func softmaxRow(y, x []float32) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var s float32
	for i, v := range x {
		e := float32(expCore(clampExp(float64(v - m))))
		y[i] = e
		s += e
	}
	inv := 1 / s
	for i := range y {
		y[i] *= inv
	}
}

// L2Normalize divides rows by max(norm, eps).
func (b *Backend) L2Normalize(y, x kernels.Buf, rows, dim int, eps float32) {
	ys, xs := b.rows2("L2Normalize", y, x, rows, dim)
	if ys == nil || dim == 0 {
		return
	}
	b.parallel(rows, max(1, elemGrain/dim), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xs[r*dim:r*dim+dim], ys[r*dim:r*dim+dim]
			var s float64
			for _, v := range xr {
				s += float64(v) * float64(v)
			}
			inv := float32(1 / max(math.Sqrt(s), float64(eps)))
			for j, v := range xr {
				yr[j] = v * inv
			}
		}
	})
}
