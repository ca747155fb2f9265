package kernels

import "fmt"

// Argument checks shared by the backends: each returns nil or an error saying which operand is
// wrong and what it needs, so every backend reports misuse the same way.

// need reports an error when view b is missing, of the wrong type or shorter than n elements.
func need(op, name string, b Buf, n int, dt DType) error {
	if n <= 0 {
		return nil
	}
	if b.IsZero() {
		return fmt.Errorf("kernels.%s: operand %s is missing (need %d elements)", op, name, n)
	}
	if b.DType() != dt {
		return fmt.Errorf("kernels.%s: operand %s is %s, want %s", op, name, b.DType(), dt)
	}
	if b.Len() < n {
		return fmt.Errorf("kernels.%s: operand %s has %d elements, need at least %d", op, name, b.Len(), n)
	}
	return nil
}

// Need is need for backends.
func Need(op, name string, b Buf, n int, dt DType) error { return need(op, name, b, n, dt) }

// SameLen reports an error unless every buffer has length n.
func SameLen(op string, n int, bufs ...Buf) error {
	for i, b := range bufs {
		if b.IsZero() {
			return fmt.Errorf("kernels.%s: operand %d is missing", op, i)
		}
		if b.DType() != F32 {
			return fmt.Errorf("kernels.%s: operand %d is %s, want float32", op, i, b.DType())
		}
		if b.Len() != n {
			return fmt.Errorf("kernels.%s: operand %d has %d elements, want %d", op, i, b.Len(), n)
		}
	}
	return nil
}

// Normalized returns g with Batch defaulted to 1.
func (g Gemm) Normalized() Gemm {
	if g.Batch == 0 {
		g.Batch = 1
	}
	return g
}

// extent is the number of elements a strided batch of row-major [rows, cols] matrices spans.
func extent(batch, stride, rows, cols, ld int) int {
	if batch == 0 || rows == 0 || cols == 0 {
		return 0
	}
	return (batch-1)*stride + (rows-1)*ld + cols
}

// Check validates the shapes, leading dimensions and buffer lengths of g.
func (g Gemm) Check() error {
	g = g.Normalized()
	if g.M < 0 || g.N < 0 || g.K < 0 || g.Batch < 0 {
		return fmt.Errorf("kernels.Gemm: negative size M=%d N=%d K=%d Batch=%d", g.M, g.N, g.K, g.Batch)
	}
	ar, ac := g.M, g.K
	if g.TransA {
		ar, ac = g.K, g.M
	}
	br, bc := g.K, g.N
	if g.TransB {
		br, bc = g.N, g.K
	}
	if g.LDA < ac || g.LDB < bc || g.LDC < g.N {
		return fmt.Errorf("kernels.Gemm: leading dimensions LDA=%d LDB=%d LDC=%d must be at least %d, %d, %d", g.LDA, g.LDB, g.LDC, ac, bc, g.N)
	}
	if g.Batch > 1 && (g.StrideA < 0 || g.StrideB < 0 || g.StrideC < 0) {
		return fmt.Errorf("kernels.Gemm: negative batch stride")
	}
	if g.Batch > 1 && g.StrideC < extent(1, 0, g.M, g.N, g.LDC) && g.M > 0 && g.N > 0 {
		return fmt.Errorf("kernels.Gemm: StrideC=%d makes batch outputs overlap (need >= %d)", g.StrideC, extent(1, 0, g.M, g.N, g.LDC))
	}
	if g.M == 0 || g.N == 0 {
		return nil
	}
	if err := need("Gemm", "A", g.A, extent(g.Batch, g.StrideA, ar, ac, g.LDA), F32); err != nil {
		return err
	}
	if err := need("Gemm", "B", g.B, extent(g.Batch, g.StrideB, br, bc, g.LDB), F32); err != nil {
		return err
	}
	return need("Gemm", "C", g.C, extent(g.Batch, g.StrideC, g.M, g.N, g.LDC), F32)
}

// Check validates the shapes, strides and buffer lengths of a.
func (a Attention) Check() error {
	if a.B <= 0 || a.H <= 0 || a.Lq <= 0 || a.Lk <= 0 || a.Dh <= 0 {
		return fmt.Errorf("kernels.Attention: sizes must be positive: B=%d H=%d Lq=%d Lk=%d Dh=%d", a.B, a.H, a.Lq, a.Lk, a.Dh)
	}
	w := a.H * a.Dh
	if a.QRow < w || a.KVRow < w {
		return fmt.Errorf("kernels.Attention: row strides QRow=%d KVRow=%d must be at least H*Dh=%d", a.QRow, a.KVRow, w)
	}
	if a.B > 1 && (a.QBatch < (a.Lq-1)*a.QRow+w || a.KVBatch < (a.Lk-1)*a.KVRow+w) {
		return fmt.Errorf("kernels.Attention: batch strides QBatch=%d KVBatch=%d make batches overlap", a.QBatch, a.KVBatch)
	}
	if err := need("Attention", "Q", a.Q, extent(a.B, a.QBatch, a.Lq, w, a.QRow), F32); err != nil {
		return err
	}
	if err := need("Attention", "K", a.K, extent(a.B, a.KVBatch, a.Lk, w, a.KVRow), F32); err != nil {
		return err
	}
	if err := need("Attention", "V", a.V, extent(a.B, a.KVBatch, a.Lk, w, a.KVRow), F32); err != nil {
		return err
	}
	if err := need("Attention", "Out", a.Out, a.B*a.Lq*w, F32); err != nil {
		return err
	}
	if !a.KeyBias.IsZero() {
		if err := need("Attention", "KeyBias", a.KeyBias, a.B*a.Lk, F32); err != nil {
			return err
		}
	}
	if !a.Probs.IsZero() {
		if err := need("Attention", "Probs", a.Probs, a.B*a.H*a.Lq*a.Lk, F32); err != nil {
			return err
		}
	}
	if !a.HeadMean.IsZero() {
		if a.HeadMeanRow < 0 || a.HeadMeanRow >= a.Lq {
			return fmt.Errorf("kernels.Attention: HeadMeanRow=%d outside [0, %d)", a.HeadMeanRow, a.Lq)
		}
		if err := need("Attention", "HeadMean", a.HeadMean, a.B*a.Lk, F32); err != nil {
			return err
		}
	}
	return nil
}
