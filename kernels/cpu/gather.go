package cpu

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// indexRows checks an index operation: idx int32, every index in [0, tableRows).
func (b *Backend) indexRows(op string, table, rowsBuf, idx kernels.Buf, dim int) (t, r []float32, ix []int32) {
	if dim <= 0 {
		b.failf("kernels.%s: dim %d must be positive", op, dim)
		return
	}
	if !b.ok(kernels.Need(op, "idx", idx, idx.Len(), kernels.I32),
		kernels.Need(op, "rows", rowsBuf, idx.Len()*dim, kernels.F32)) {
		return
	}
	if table.Len()%dim != 0 {
		b.failf("kernels.%s: table of %d elements is not a whole number of %d-wide rows", op, table.Len(), dim)
		return
	}
	ix = b.Index(idx)
	t, r = b.f32(table, op), b.f32(rowsBuf, op)
	if t == nil || r == nil || ix == nil && idx.Len() > 0 {
		b.fail(fmt.Errorf("kernels.%s: unusable operand", op))
		return nil, nil, nil
	}
	n := int32(table.Len() / dim)
	for i, v := range ix {
		if v < 0 || v >= n {
			b.failf("kernels.%s: idx[%d] = %d outside [0, %d)", op, i, v, n)
			return nil, nil, nil
		}
	}
	return t, r, ix
}

// GatherRows sets dst[i, :] = src[idx[i], :].
func (b *Backend) GatherRows(dst, src, idx kernels.Buf, dim int) {
	t, r, ix := b.indexRows("GatherRows", src, dst, idx, dim)
	if t == nil {
		return
	}
	b.parallel(len(ix), max(1, elemGrain/dim), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			j := int(ix[i])
			copy(r[i*dim:i*dim+dim], t[j*dim:j*dim+dim])
		}
	})
}

// ScatterRows sets dst[idx[i], :] = src[i, :]; indices must be distinct.
func (b *Backend) ScatterRows(dst, src, idx kernels.Buf, dim int) {
	t, r, ix := b.indexRows("ScatterRows", dst, src, idx, dim)
	if t == nil {
		return
	}
	seen := make([]bool, len(t)/dim)
	for i, v := range ix {
		if seen[v] {
			b.failf("kernels.ScatterRows: idx[%d] = %d repeats an earlier index; use ScatterAddRows to accumulate", i, v)
			return
		}
		seen[v] = true
	}
	b.parallel(len(ix), max(1, elemGrain/dim), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			j := int(ix[i])
			copy(t[j*dim:j*dim+dim], r[i*dim:i*dim+dim])
		}
	})
}

// ScatterAddRows adds dst[idx[i], :] += src[i, :]. Sequential over i so that repeated indices
// accumulate deterministically; parallel over columns.
func (b *Backend) ScatterAddRows(dst, src, idx kernels.Buf, dim int) {
	t, r, ix := b.indexRows("ScatterAddRows", dst, src, idx, dim)
	if t == nil {
		return
	}
	b.parallel(dim, max(64, elemGrain/max(len(ix), 1)), func(lo, hi int) {
		for i, v := range ix {
			j := int(v)
			d, s := t[j*dim+lo:j*dim+hi], r[i*dim+lo:i*dim+hi]
			for q, x := range s {
				d[q] += x
			}
		}
	})
}
