package models

import "github.com/umt-dev/umt/kernels"

// Linear computes y[rows, out] = x[rows, in] · Wᵀ (+ bias) with W stored [out, in] as PyTorch's
// nn.Linear; a zero bias Buf means no bias. Both the teacher and the student use it.
func Linear(be kernels.Backend, y, x, w, bias kernels.Buf, rows, in, out int) {
	be.Gemm(kernels.Gemm{M: rows, N: out, K: in, Alpha: 1, A: x, LDA: in, B: w, LDB: in, TransB: true, C: y, LDC: out})
	if !bias.IsZero() {
		be.AddBias(y, bias, rows, out)
	}
}

// LinearGrad accumulates the gradients of Linear: dW += dyᵀ x, db += Σ_rows dy (when db is
// given), and writes dx = dy W when dx is given.
func LinearGrad(be kernels.Trainer, dx, dy, x, w, dw, db kernels.Buf, rows, in, out int) {
	be.Gemm(kernels.Gemm{TransA: true, M: out, N: in, K: rows, Alpha: 1, Beta: 1, A: dy, LDA: out, B: x, LDB: in, C: dw, LDC: in})
	if !db.IsZero() {
		be.SumRows(db, dy, rows, out)
	}
	if !dx.IsZero() {
		be.Gemm(kernels.Gemm{M: rows, N: in, K: out, Alpha: 1, A: dy, LDA: out, B: w, LDB: in, C: dx, LDC: in})
	}
}
