package cuda

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// Gemm runs a batched strided matrix product through cuBLASLt in the backend's precision.
func (b *Backend) Gemm(g kernels.Gemm) { b.gemm(g, kernels.Buf{}, "Gemm") }

// GemmBias is Gemm followed by AddBias(C, bias, M, N) fused into cuBLASLt's bias epilogue
// (bias [N], one value per output column, as a Linear layer's). It is specific to this
// backend; model code reaches it with a type assertion and falls back to Gemm + AddBias.
// cuBLASLt's GELU epilogue is not offered: it is the tanh approximation, and the student's
// nn.GELU() is the exact erf form.
func (b *Backend) GemmBias(g kernels.Gemm, bias kernels.Buf) {
	if !b.ok(kernels.Need("GemmBias", "bias", bias, g.N, kernels.F32)) {
		return
	}
	b.gemm(g, bias, "GemmBias")
}

func (b *Backend) gemm(g kernels.Gemm, bias kernels.Buf, op string) {
	g = g.Normalized()
	if !b.ok(g.Check()) || g.M == 0 || g.N == 0 {
		return
	}
	if g.K == 0 {
		b.scaleC(g, op)
		if !bias.IsZero() {
			b.addBiasStrided(g, bias)
		}
		return
	}
	a, bb, c := b.dptr(g.A, op), b.dptr(g.B, op), b.dptr(g.C, op)
	bp := b.dptr(bias, op)
	if b.err != nil {
		return
	}
	key := gemmKey{s: colMajorShape(g), prec: b.prec, bias: bp != 0, alA: alignOf(a), alB: alignOf(bb), alC: alignOf(c)}
	if bp != 0 {
		key.alBia = alignOf(bp)
	}
	b.drv.pinned(func() {
		p := b.plans[key]
		if p == nil {
			var err error
			if p, err = b.lt.plan(key, b.wsSize); err != nil {
				b.fail(fmt.Errorf("cuda.%s: %w", op, err))
				return
			}
			b.plans[key] = p
		}
		// cuBLASLt's A is our B and its B our A (see colMajorShape).
		if err := b.lt.run(p, bb, a, c, bp, b.ws, b.wsSize); err != nil {
			b.fail(fmt.Errorf("cuda.%s: %w", op, err))
		}
	})
}

// scaleC handles K == 0: C = Beta * C (zero when Beta is 0, without reading C).
func (b *Backend) scaleC(g kernels.Gemm, op string) {
	for i := 0; i < g.Batch; i++ {
		off := i * g.StrideC
		for r := 0; r < g.M; r++ {
			row := g.C.View(off+r*g.LDC, g.N)
			if g.Beta == 0 {
				b.Fill(row, 0)
			} else {
				b.Scale(row, row, g.Beta)
			}
		}
	}
}

// addBiasStrided adds bias to every row of every batch item of C (the K == 0 corner).
func (b *Backend) addBiasStrided(g kernels.Gemm, bias kernels.Buf) {
	for i := 0; i < g.Batch; i++ {
		for r := 0; r < g.M; r++ {
			b.Add(g.C.View(i*g.StrideC+r*g.LDC, g.N), g.C.View(i*g.StrideC+r*g.LDC, g.N), bias.View(0, g.N))
		}
	}
}
