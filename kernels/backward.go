package kernels

import "fmt"

// Trainer extends [Backend] with the backward operations and the optimiser step that training
// needs. Model code asks for it with a type assertion (b.(kernels.Trainer)); a backend that can
// only run inference does not implement it.
//
// Conventions, in addition to the package's: gradients of parameters (dgamma, dbeta, bias
// gradients) are accumulated (+=), so a parameter used several times (UMT's shared final norm)
// sums its contributions and the caller zeroes them once per step; gradients of activations
// (dx) are overwritten. All reductions accumulate in at least float32 with per-row partial sums.
type Trainer interface {
	Backend
	// LayerNormBackward is the backward of LayerNorm(y, x, gamma, beta, mean, rstd, rows, dim):
	// given dy [rows, dim] and the saved mean, rstd [rows], it writes dx [rows, dim] and adds
	// dgamma, dbeta [dim] (zero Bufs skip them).
	LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd Buf, rows, dim int)
	// GELUBackward writes dx = dy * GELU'(x) for the exact erf GELU; dx may alias dy.
	GELUBackward(dx, dy, x Buf)
	// AttentionBackward is the backward of an [Attention] run with Probs saved; see
	// [AttentionGrad].
	AttentionBackward(g AttentionGrad)
	// L2NormalizeBackward is the backward of L2Normalize(y, x, rows, dim, eps): given dy and the
	// forward input x it writes dx [rows, dim]; dx may alias dy.
	L2NormalizeBackward(dx, dy, x Buf, rows, dim int, eps float32)
	// SumRows adds the column sums of x [rows, dim] to dst [dim] (bias gradients).
	SumRows(dst, x Buf, rows, dim int)
	// ScaleRows writes y[r, :] = s[r] * x[r, :] for x [rows, dim], s [rows] (per-sample drop
	// path, forward and backward); y may alias x.
	ScaleRows(y, x, s Buf, rows, dim int)
	// AlignmentLoss computes UMT's unmasked-token alignment loss for unit vectors s, t
	// [rows, dim]: loss[0] = mean_r (2 − 2⟨s_r, t_r⟩) and its gradient with respect to s,
	// ds = −2 t / rows, written to ds [rows, dim]. The mean is accumulated in float64.
	AlignmentLoss(loss, ds, s, t Buf, rows, dim int)
	// SumSquares writes out[0] = Σ x² (accumulated in float64): gradient norms and clipping.
	SumSquares(out, x Buf)
	// AdamW applies one decoupled-weight-decay Adam step; see [AdamWStep].
	AdamW(s AdamWStep)
}

// AttentionGrad describes the backward of one [Attention] call. Attention is the forward
// descriptor (sizes, Scale, the Q, K, V views with their strides) and must carry the saved
// Probs [B, H, Lq, Lk]; KeyBias and HeadMean are ignored. DOut is the gradient of Out
// [B, Lq, H*Dh]. DQ is written with Q's layout (QRow, QBatch) and DK, DV with K's and V's
// (KVRow, KVBatch), so with a packed qkv input the three land in one packed dqkv buffer.
// DQ, DK and DV are overwritten; they must not overlap DOut or the forward operands.
type AttentionGrad struct {
	Attention
	DOut       Buf
	DQ, DK, DV Buf
}

// Check validates the descriptor.
func (g AttentionGrad) Check() error {
	if g.Probs.IsZero() {
		return fmt.Errorf("kernels.AttentionBackward: the forward Probs are missing; run Attention with Probs set and keep them")
	}
	if err := g.Attention.Check(); err != nil {
		return err
	}
	w := g.H * g.Dh
	if err := need("AttentionBackward", "DOut", g.DOut, g.B*g.Lq*w, F32); err != nil {
		return err
	}
	if err := need("AttentionBackward", "DQ", g.DQ, extent(g.B, g.QBatch, g.Lq, w, g.QRow), F32); err != nil {
		return err
	}
	if err := need("AttentionBackward", "DK", g.DK, extent(g.B, g.KVBatch, g.Lk, w, g.KVRow), F32); err != nil {
		return err
	}
	return need("AttentionBackward", "DV", g.DV, extent(g.B, g.KVBatch, g.Lk, w, g.KVRow), F32)
}

// AdamWStep is torch.optim.AdamW's update for one group of parameters with the same weight
// decay, at step Step (1-based):
//
//	p ← p·(1 − LR·WeightDecay)
//	m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//	p ← p − LR/(1 − β1^Step) · m / (sqrt(v)/sqrt(1 − β2^Step) + Eps)
//
// Param, Grad, M and V have the same length. GradScale multiplies g first (gradient clipping
// or loss-scale removal); 0 means 1.
type AdamWStep struct {
	Param, Grad, M, V Buf
	LR, WeightDecay   float64
	Beta1, Beta2, Eps float64
	Step              int
	GradScale         float64
}

// Check validates the step.
func (s AdamWStep) Check() error {
	if s.Step < 1 {
		return fmt.Errorf("kernels.AdamW: step %d, want >= 1 (the first step is 1)", s.Step)
	}
	if s.Beta1 < 0 || s.Beta1 >= 1 || s.Beta2 < 0 || s.Beta2 >= 1 {
		return fmt.Errorf("kernels.AdamW: betas (%v, %v) must lie in [0, 1)", s.Beta1, s.Beta2)
	}
	return SameLen("AdamW", s.Param.Len(), s.Param, s.Grad, s.M, s.V)
}
