package clip

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// PooledSize returns the length EncodePooled's output has for B videos of T frames: [B·T, O].
func (t *Teacher) PooledSize(B, T int) int { return B * T * t.cfg.OutputDim }

// EncodePooled runs the teacher on frames, uint8 RGB [B, T, H, W, 3], and returns CLIP's image
// embedding of every frame [B·T, O]: the last block's CLS token through ln_post and the
// projection (as CLIP's encode_image computes it), L2-normalised (as clip-retrieval stores it).
// It runs the same network as Encode, so the per-token features are computed on the way.
func (t *Teacher) EncodePooled(frames []byte, B, T, H, W int) ([]float32, error) {
	nf, _ := t.Sizes(B, T)
	out := make([]float32, t.PooledSize(B, T))
	t.pooled = out
	defer func() { t.pooled = nil }()
	if err := t.EncodeTo(make([]float32, nf), nil, frames, B, T, H, W); err != nil {
		return nil, err
	}
	return out, nil
}

// poolCLS writes the pooled embeddings of frames [f0, f0+F) of a chunk into t.pooled, from the
// residual stream x [F, 1+HW, D] after the last block.
func (t *Teacher) poolCLS(f0, F int) error {
	c, be, w := t.cfg, t.be, t.work
	D, O, L := c.Width, c.OutputDim, c.Tokens()+1
	cls := w.tok.View(0, F*D)
	be.CopyRows(cls, D, w.x, L*D, F, D) // row 0 of each frame: CLS
	be.LayerNorm(cls, cls, t.p.lnPostW, t.p.lnPostB, kernels.Buf{}, kernels.Buf{}, F, D, c.Eps)
	emb := w.feat.View(0, F*O)
	be.Gemm(kernels.Gemm{M: F, N: O, K: D, Alpha: 1, A: cls, LDA: D, B: t.p.proj, LDB: O, C: emb, LDC: O})
	be.L2Normalize(emb, emb, F, O, 0)
	if err := be.Download(t.pooled[f0*O:(f0+F)*O], emb); err != nil {
		return fmt.Errorf("clip: pooled embedding: %w", err)
	}
	return nil
}
