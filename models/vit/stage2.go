package vit

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// The stage-2 vision encoder (Config.Stage2, multi_modality vit.py) adds to the student:
//
//	vision_embeds = norm(x_L)                     [B·nv, D], the final norm of the last block
//	pooled        = pool_norm(mean(vision_embeds)) [B·P, D], P = 1 (mean over every visible
//	                token of a clip) or T (keep_temporal: per-frame means)
//	x_clip[k]     = LN₁e₋₅(head_k(norm(x_lk) + clip_pe[visible]))   (no L2; UTALoss normalises)
//
// The image path (T = 1) reads the first HW rows of the sinusoid: img_pos_embed and
// clip_img_pos_embed are exactly those rows, as the table's row p depends only on p and D.

// poolForward computes vision_embeds and pooled for the last forward.
func (m *Model) poolForward(w *workspace) {
	c, be, ix := m.Cfg, m.be, m.ix
	D, M := c.Dim, w.M
	mean, rstd := stats(w.xst, M)
	be.LayerNorm(w.xvis, w.xs[c.Depth-1], m.pw(ix.normW), m.pw(ix.normB), mean, rstd, M, D, Eps)
	groups, cnt := w.B*w.pool, w.nv/w.pool
	// pmean[g] = (1/cnt) · 1ᵀ · xvis[g·cnt : (g+1)·cnt]
	be.Gemm(kernels.Gemm{M: 1, N: D, K: cnt, Alpha: 1 / float32(cnt), A: w.ones, LDA: cnt,
		B: w.xvis, LDB: D, StrideB: cnt * D, C: w.pmean, LDC: D, StrideC: D, Batch: groups})
	pm, pr := stats(w.pst, groups)
	be.LayerNorm(w.pooled, w.pmean, m.pw(ix.poolW), m.pw(ix.poolB), pm, pr, groups, D, Eps)
}

// finalBackward writes into dRes the gradient that reaches the last block's output from
// vision_embeds (dEmbeds) and pooled (dPooled); it leaves dRes as it is when both are zero.
func (m *Model) finalBackward(w *workspace, dEmbeds, dPooled, dRes kernels.Buf) error {
	c, be, ix := m.Cfg, m.be, m.ix
	D, M := c.Dim, w.M
	groups, cnt := w.B*w.pool, w.nv/w.pool
	if !dEmbeds.IsZero() && dEmbeds.Len() != M*D || !dPooled.IsZero() && dPooled.Len() != groups*D {
		return fmt.Errorf("vit: output gradients of %d and %d values, want vision_embeds [%d, %d] and pooled [%d, %d]", dEmbeds.Len(), dPooled.Len(), M, D, groups, D)
	}
	if dEmbeds.IsZero() && dPooled.IsZero() {
		return nil
	}
	dX := w.dT // d vision_embeds
	be.Fill(dX, 0)
	if !dEmbeds.IsZero() {
		be.Copy(dX, dEmbeds)
	}
	if !dPooled.IsZero() {
		pm, pr := stats(w.pst, groups)
		be.LayerNormBackward(w.dPm, m.pg(ix.poolW), m.pg(ix.poolB), dPooled, w.pmean, m.pw(ix.poolW), pm, pr, groups, D)
		// dX[g·cnt + i] += dPm[g] / cnt
		be.Gemm(kernels.Gemm{M: cnt, N: D, K: 1, Alpha: 1 / float32(cnt), Beta: 1, A: w.ones, LDA: 1,
			B: w.dPm, LDB: D, StrideB: D, C: dX, LDC: D, StrideC: cnt * D, Batch: groups})
	}
	mean, rstd := stats(w.xst, M)
	be.LayerNormBackward(dRes, m.pg(ix.normW), m.pg(ix.normB), dX, w.xs[c.Depth-1], m.pw(ix.normW), mean, rstd, M, D)
	return nil
}

// VisionEmbeds is the last forward's vision_embeds [B·nv, D] on the backend (stage 2): the
// cross-attention memory of the fusion encoder. The model owns it until the next Forward.
func (m *Model) VisionEmbeds() kernels.Buf {
	if m.ws == nil || !m.Cfg.Stage2 {
		return kernels.Buf{}
	}
	return m.ws.xvis
}

// Pooled is the last forward's pool_norm output [B·P, D] on the backend (stage 2).
func (m *Model) Pooled() kernels.Buf {
	if m.ws == nil || !m.Cfg.Stage2 {
		return kernels.Buf{}
	}
	return m.ws.pooled
}

// FinalTokens downloads the last forward's final-norm tokens norm(x_L) [B·nv, D]: in stage 2
// vision_embeds; in stage 1 the shared norm of the last returned block, which is always the
// last block (models.ReturnedBlocks counts from it), so the student's own forward computes it.
func (m *Model) FinalTokens() ([]float32, error) {
	w := m.ws
	if w == nil {
		return nil, fmt.Errorf("vit: no forward pass has run")
	}
	src := w.xvis
	if !m.Cfg.Stage2 {
		K, D := m.Cfg.ReturnLayers, m.Cfg.Dim
		src = w.nrm.View((K-1)*w.M*D, w.M*D)
	}
	out := make([]float32, src.Len())
	return out, m.be.Download(out, src)
}

// XClip downloads the last forward's head outputs before any L2 [K, B, nv, ClipDim]: the
// stage-2 x_clip (in stage 1 the decoders normalise these to Outputs).
func (m *Model) XClip() ([]float32, error) {
	if m.ws == nil {
		return nil, fmt.Errorf("vit: no forward pass has run")
	}
	out := make([]float32, m.ws.v.Len())
	return out, m.be.Download(out, m.ws.v)
}

// UTALoss is stage 2's UTA_Loss (uta_norm_type l2, uta_loss_type l2) of the last forward
// against raw teacher features [K, B, nv, ClipDim] (the multi_modality teacher does not
// normalise): both sides divided by their norms, mean(2 − 2⟨ŝ, t̂⟩). Its gradient is kept for
// Backward.
func (m *Model) UTALoss(targets []float32) (float64, error) {
	w := m.ws
	if w == nil {
		return 0, fmt.Errorf("vit: UTALoss before Forward")
	}
	if len(targets) != w.targets.Len() {
		return 0, fmt.Errorf("vit: %d target values, want K·B·nv·C = %d", len(targets), w.targets.Len())
	}
	rows := m.Cfg.ReturnLayers * w.M
	m.be.Upload(w.dout, targets) // dout is free until the loss overwrites it
	m.be.L2Normalize(w.targets, w.dout, rows, m.Cfg.ClipDim, 0)
	return m.alignment(rows)
}

// alignment runs the loss kernel on the unit outputs and the unit targets in w.targets.
func (m *Model) alignment(rows int) (float64, error) {
	w := m.ws
	m.be.AlignmentLoss(w.loss, w.dout, w.out, w.targets, rows, m.Cfg.ClipDim)
	l := make([]float32, 1)
	if err := m.be.Download(l, w.loss); err != nil {
		return 0, err
	}
	w.lossed = true
	return float64(l[0]), nil
}

// Layout lists a config's tensors in official order with their offsets in the flat buffers.
func Layout(c Config) []Param { return layout(c) }
