package cpu

import "github.com/umt-dev/umt/kernels"

// gemmMinRows is the smallest row slab worth a goroutine of its own; below it OpenBLAS's packing
// overhead dominates.
const gemmMinRows = 32

// Gemm runs a batched strided GEMM (see kernels.Gemm), split over goroutines: across batch items
// when there are enough of them, otherwise across rows (or columns) of each product.
func (b *Backend) Gemm(g kernels.Gemm) {
	g = g.Normalized()
	if !b.ok(g.Check()) || g.M == 0 || g.N == 0 {
		return
	}
	A, B, C := b.f32(g.A, "Gemm"), b.f32(g.B, "Gemm"), b.f32(g.C, "Gemm")
	if A == nil || B == nil || C == nil {
		return
	}
	flops := 2 * g.M * g.N * max(g.K, 1)
	if g.Batch >= b.threads || g.Batch > 1 && flops < 1<<20 {
		b.parallel(g.Batch, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				b.sgemm(g.TransA, g.TransB, g.M, g.N, g.K, g.Alpha, A[i*g.StrideA:], g.LDA, B[i*g.StrideB:], g.LDB, g.Beta, C[i*g.StrideC:], g.LDC)
			}
		})
		return
	}
	for i := 0; i < g.Batch; i++ {
		b.gemmSplit(g, A[i*g.StrideA:], B[i*g.StrideB:], C[i*g.StrideC:])
	}
}

// gemmSplit runs one product over the goroutines: slabs of rows of C, or of columns when M is
// too small to share.
func (b *Backend) gemmSplit(g kernels.Gemm, A, B, C []float32) {
	small := 2*g.M*g.N*max(g.K, 1) < 1<<18
	if small || b.threads == 1 {
		b.sgemm(g.TransA, g.TransB, g.M, g.N, g.K, g.Alpha, A, g.LDA, B, g.LDB, g.Beta, C, g.LDC)
		return
	}
	if g.M >= gemmMinRows*2 || g.M >= g.N {
		b.parallel(g.M, gemmMinRows, func(lo, hi int) {
			aOff := lo * g.LDA // row lo of op(A)
			if g.TransA {
				aOff = lo
			}
			b.sgemm(g.TransA, g.TransB, hi-lo, g.N, g.K, g.Alpha, A[aOff:], g.LDA, B, g.LDB, g.Beta, C[lo*g.LDC:], g.LDC)
		})
		return
	}
	b.parallel(g.N, gemmMinRows, func(lo, hi int) {
		bOff := lo // column lo of op(B)
		if g.TransB {
			bOff = lo * g.LDB
		}
		b.sgemm(g.TransA, g.TransB, g.M, hi-lo, g.K, g.Alpha, A, g.LDA, B[bOff:], g.LDB, g.Beta, C[lo:], g.LDC)
	})
}

// sgemm is one single-threaded product through OpenBLAS or the pure-Go kernel.
func (b *Backend) sgemm(tA, tB bool, m, n, k int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 || len(A) == 0 || len(B) == 0 {
		// BLAS would still scale C; do it here so that empty operands are never dereferenced.
		goGemm(tA, tB, m, n, 0, alpha, nil, lda, nil, ldb, beta, C, ldc)
		return
	}
	if b.pureGo {
		goGemm(tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
		return
	}
	blasSgemm(tA, tB, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
}
