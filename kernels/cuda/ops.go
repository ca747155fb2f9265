package cuda

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// Forward operations other than Gemm and Attention: argument checks as kernels/cpu makes them,
// then one kernel launch on the default stream.

func (b *Backend) ew(n int) ([3]int, [3]int) {
	return grid1(elementwiseGrid(n, b.dev.sms)), block1(blockThreads)
}

func (b *Backend) rows(rows int) ([3]int, [3]int) {
	return grid1(rowGrid(rows)), block1(32 * rowWarps)
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x kernels.Buf, v float32) {
	if !b.ok(kernels.Need("Fill", "x", x, 0, kernels.F32)) || x.Len() == 0 {
		return
	}
	g, t := b.ew(x.Len())
	b.launch("fill_f32", g, t, b.dptr(x, "Fill"), int64(x.Len()), v)
}

// Copy copies src into dst (same length).
func (b *Backend) Copy(dst, src kernels.Buf) {
	if !b.ok(kernels.SameLen("Copy", dst.Len(), dst, src)) || dst.Len() == 0 {
		return
	}
	d, s := b.dptr(dst, "Copy"), b.dptr(src, "Copy")
	if d == 0 || s == 0 || d == s {
		return
	}
	b.fail(b.drv.check("cuMemcpyDtoD", b.drv.ccall(b.drv.cuMemcpyDtoD, uintptr(d), uintptr(s), uintptr(dst.Len()*4))))
}

// CopyRows copies a [rows, cols] block between row strides.
func (b *Backend) CopyRows(dst kernels.Buf, ldDst int, src kernels.Buf, ldSrc int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	var e error
	if ldDst < cols || ldSrc < cols {
		e = fmt.Errorf("kernels.CopyRows: row strides %d, %d shorter than the %d columns copied", ldDst, ldSrc, cols)
	}
	if !b.ok(e, kernels.Need("CopyRows", "dst", dst, (rows-1)*ldDst+cols, kernels.F32),
		kernels.Need("CopyRows", "src", src, (rows-1)*ldSrc+cols, kernels.F32)) {
		return
	}
	g, t := b.ew(rows * cols)
	b.launch("copy_rows_f32", g, t, b.dptr(dst, "CopyRows"), int64(ldDst), b.dptr(src, "CopyRows"), int64(ldSrc), int64(rows), cols)
}

// AddBias adds bias [dim] to every row of x [rows, dim].
func (b *Backend) AddBias(x, bias kernels.Buf, rows, dim int) {
	if rows*dim == 0 || !b.ok(kernels.Need("AddBias", "x", x, rows*dim, kernels.F32), kernels.Need("AddBias", "bias", bias, dim, kernels.F32)) {
		return
	}
	g, t := b.ew(rows * dim)
	b.launch("add_bias_f32", g, t, b.dptr(x, "AddBias"), b.dptr(bias, "AddBias"), int64(rows), dim)
}

// Add computes y = a + b elementwise.
func (b *Backend) Add(y, a, c kernels.Buf) {
	if !b.ok(kernels.SameLen("Add", y.Len(), y, a, c)) || y.Len() == 0 {
		return
	}
	g, t := b.ew(y.Len())
	b.launch("add_f32", g, t, b.dptr(y, "Add"), b.dptr(a, "Add"), b.dptr(c, "Add"), int64(y.Len()))
}

// Scale computes y = alpha * x.
func (b *Backend) Scale(y, x kernels.Buf, alpha float32) {
	if !b.ok(kernels.SameLen("Scale", y.Len(), y, x)) || y.Len() == 0 {
		return
	}
	g, t := b.ew(y.Len())
	b.launch("scale_f32", g, t, b.dptr(y, "Scale"), b.dptr(x, "Scale"), int64(y.Len()), alpha)
}

// LayerNorm normalises each row of x [rows, dim]; mean and rstd [rows] are optional outputs.
func (b *Backend) LayerNorm(y, x, gamma, beta, mean, rstd kernels.Buf, rows, dim int, eps float32) {
	if rows*dim == 0 {
		return
	}
	errs := []error{kernels.Need("LayerNorm", "x", x, rows*dim, kernels.F32), kernels.Need("LayerNorm", "y", y, rows*dim, kernels.F32),
		kernels.Need("LayerNorm", "gamma", gamma, dim, kernels.F32), kernels.Need("LayerNorm", "beta", beta, dim, kernels.F32)}
	if !mean.IsZero() {
		errs = append(errs, kernels.Need("LayerNorm", "mean", mean, rows, kernels.F32))
	}
	if !rstd.IsZero() {
		errs = append(errs, kernels.Need("LayerNorm", "rstd", rstd, rows, kernels.F32))
	}
	if !b.ok(errs...) {
		return
	}
	g, t := b.rows(rows)
	b.launch("layernorm_fwd", g, t, b.dptr(y, "LayerNorm"), b.dptr(x, "LayerNorm"), b.dptr(gamma, "LayerNorm"),
		b.dptr(beta, "LayerNorm"), b.dptr(mean, "LayerNorm"), b.dptr(rstd, "LayerNorm"), rows, dim, eps)
}

func (b *Backend) unary(kernel, op string, y, x kernels.Buf) {
	if !b.ok(kernels.SameLen(op, y.Len(), y, x)) || y.Len() == 0 {
		return
	}
	g, t := b.ew(y.Len())
	b.launch(kernel, g, t, b.dptr(y, op), b.dptr(x, op), int64(y.Len()))
}

// GELU computes the exact erf GELU.
func (b *Backend) GELU(y, x kernels.Buf) { b.unary("gelu_f32", "GELU", y, x) }

// QuickGELU computes x * sigmoid(1.702 x).
func (b *Backend) QuickGELU(y, x kernels.Buf) { b.unary("quick_gelu_f32", "QuickGELU", y, x) }

// Softmax computes a stable softmax over each row of x [rows, cols].
func (b *Backend) Softmax(y, x kernels.Buf, rows, cols int) {
	if rows*cols == 0 || !b.ok(kernels.Need("Softmax", "x", x, rows*cols, kernels.F32), kernels.Need("Softmax", "y", y, rows*cols, kernels.F32)) {
		return
	}
	g, t := b.rows(rows)
	b.launch("softmax_rows", g, t, b.dptr(y, "Softmax"), b.dptr(x, "Softmax"), rows, cols)
}

// L2Normalize divides each row of x [rows, dim] by max(||row||, eps).
func (b *Backend) L2Normalize(y, x kernels.Buf, rows, dim int, eps float32) {
	if rows*dim == 0 || !b.ok(kernels.Need("L2Normalize", "x", x, rows*dim, kernels.F32), kernels.Need("L2Normalize", "y", y, rows*dim, kernels.F32)) {
		return
	}
	g, t := b.rows(rows)
	b.launch("l2norm_fwd", g, t, b.dptr(y, "L2Normalize"), b.dptr(x, "L2Normalize"), rows, dim, eps)
}

// rowsOp checks a gather/scatter: idx is int32, the table has a whole number of rows.
func (b *Backend) rowsOp(kernel, op, table string, dst, src, idx kernels.Buf, dim int) {
	if dim <= 0 {
		b.fail(fmt.Errorf("kernels.%s: dim %d must be positive", op, dim))
		return
	}
	n := idx.Len()
	var tbl kernels.Buf
	var e error
	if table == "src" {
		tbl = src
		e = kernels.Need(op, "dst", dst, n*dim, kernels.F32)
	} else {
		tbl = dst
		e = kernels.Need(op, "src", src, n*dim, kernels.F32)
	}
	var te error
	if tbl.Len()%dim != 0 {
		te = fmt.Errorf("kernels.%s: %s has %d elements, not a whole number of rows of %d", op, table, tbl.Len(), dim)
	}
	if !b.ok(kernels.Need(op, "idx", idx, n, kernels.I32), kernels.Need(op, table, tbl, dim, kernels.F32), e, te) || n == 0 {
		return
	}
	g, t := b.ew(n * dim)
	b.flagDirty = true
	b.launch(kernel, g, t, b.dptr(dst, op), b.dptr(src, op), b.dptr(idx, op), int64(n), dim, int64(tbl.Len()/dim), b.errFlag)
}

// GatherRows sets dst[i, :] = src[idx[i], :].
func (b *Backend) GatherRows(dst, src, idx kernels.Buf, dim int) {
	b.rowsOp("gather_rows_f32", "GatherRows", "src", dst, src, idx, dim)
}

// ScatterRows sets dst[idx[i], :] = src[i, :] (distinct indices).
func (b *Backend) ScatterRows(dst, src, idx kernels.Buf, dim int) {
	b.rowsOp("scatter_rows_f32", "ScatterRows", "dst", dst, src, idx, dim)
}

// ScatterAddRows adds dst[idx[i], :] += src[i, :] (repeated indices accumulate).
func (b *Backend) ScatterAddRows(dst, src, idx kernels.Buf, dim int) {
	b.rowsOp("scatter_add_rows_f32", "ScatterAddRows", "dst", dst, src, idx, dim)
}
