package cuda

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// Attention runs the FlashAttention-style forward kernel; when Probs or HeadMean are wanted it
// saves each row's log-sum-exp and rebuilds them in separate kernels (attention.cu).
func (b *Backend) Attention(a kernels.Attention) {
	if !b.ok(a.Check()) {
		return
	}
	dmax, err := attnDMax(a.Dh)
	if err != nil {
		b.fail(fmt.Errorf("cuda.Attention: %w", err))
		return
	}
	gx, gy, err := attnGrid(a.Lq, a.B, a.H)
	if err != nil {
		b.fail(fmt.Errorf("cuda.Attention: %w", err))
		return
	}
	op := "Attention"
	q, k, v, out := b.dptr(a.Q, op), b.dptr(a.K, op), b.dptr(a.V, op), b.dptr(a.Out, op)
	bias := b.dptr(a.KeyBias, op)
	var lse uint64
	done := func() {}
	if !a.Probs.IsZero() || !a.HeadMean.IsZero() {
		lse, done = b.temp(cdiv(a.B*a.H*a.Lq, 2)) // float32s in 8-byte words
	}
	defer done()
	if b.err != nil {
		return
	}
	kernel, block := fmt.Sprintf("attn_fwd_d%d", dmax), attnRows
	if b.tensorCoreAttention(a.Dh) {
		kernel, block = "attn_fwd_tc_d64", 128 // 4 warps x 16 rows = attnRows rows per block
	}
	b.launch(kernel, [3]int{gx, gy, 1}, block1(block),
		out, lse, q, k, v, bias, a.H, a.Lq, a.Lk, a.Dh, a.Scale,
		int64(a.QRow), int64(a.QBatch), int64(a.KVRow), int64(a.KVBatch))
	if !a.Probs.IsZero() {
		px, py, pz, err := probsGrid(a.Lq, a.Lk, a.B*a.H)
		if err != nil {
			b.fail(fmt.Errorf("cuda.Attention: %w", err))
			return
		}
		b.launch("attn_probs", [3]int{px, py, pz}, [3]int{32, 8, 1},
			b.dptr(a.Probs, op), lse, q, k, bias, a.H, a.Lq, a.Lk, a.Dh, a.Scale,
			int64(a.QRow), int64(a.QBatch), int64(a.KVRow), int64(a.KVBatch))
	}
	if !a.HeadMean.IsZero() {
		hx, hy, err := headMeanGrid(a.Lk, a.B)
		if err != nil {
			b.fail(fmt.Errorf("cuda.Attention: %w", err))
			return
		}
		b.launch("attn_head_mean", [3]int{hx, hy, 1}, block1(32*rowWarps),
			b.dptr(a.HeadMean, op), lse, q, k, bias, a.H, a.Lq, a.Lk, a.Dh, a.Scale,
			int64(a.QRow), int64(a.QBatch), int64(a.KVRow), int64(a.KVBatch), a.HeadMeanRow)
	}
}

// tensorCoreAttention reports whether the forward runs on bf16 tensor cores: in the BF16
// precision (the autocast-equivalent path), head size 64 (ViT-B and L), on sm_80 or newer.
func (b *Backend) tensorCoreAttention(dh int) bool {
	return b.prec == BF16 && dh == 64 && b.dev.major >= 8
}

// AttentionBackward computes dQ, dK, dV from the saved probabilities (attention_bwd.cu).
func (b *Backend) AttentionBackward(g kernels.AttentionGrad) {
	if !b.ok(g.Check()) {
		return
	}
	dmax, err := attnDMax(g.Dh)
	if err != nil {
		b.fail(fmt.Errorf("cuda.AttentionBackward: %w", err))
		return
	}
	qx, gy, err := attnGrid(g.Lq, g.B, g.H)
	if err != nil {
		b.fail(fmt.Errorf("cuda.AttentionBackward: %w", err))
		return
	}
	kx, _, _ := attnGrid(g.Lk, g.B, g.H)
	op := "AttentionBackward"
	p, dout := b.dptr(g.Probs, op), b.dptr(g.DOut, op)
	q, k, v := b.dptr(g.Q, op), b.dptr(g.K, op), b.dptr(g.V, op)
	dq, dk, dv := b.dptr(g.DQ, op), b.dptr(g.DK, op), b.dptr(g.DV, op)
	d, done := b.temp(cdiv(g.B*g.H*g.Lq, 2)) // D_i = sum_j P_ij dP_ij, float32
	defer done()
	if b.err != nil {
		return
	}
	strides := []any{g.H, g.Lq, g.Lk, g.Dh, g.Scale, int64(g.QRow), int64(g.QBatch), int64(g.KVRow), int64(g.KVBatch)}
	b.launch(fmt.Sprintf("attn_bwd_dq_d%d", dmax), [3]int{qx, gy, 1}, block1(attnRows),
		append([]any{dq, d, p, dout, k, v}, strides...)...)
	b.launch(fmt.Sprintf("attn_bwd_dkv_d%d", dmax), [3]int{kx, gy, 1}, block1(attnRows),
		append([]any{dk, dv, p, d, dout, q, v}, strides...)...)
}
