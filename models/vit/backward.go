package vit

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
)

// ZeroGrads clears the gradient buffer (gradients accumulate across Backward calls).
func (m *Model) ZeroGrads() { m.be.Fill(m.g, 0) }

// Backward adds the gradient of the last Loss with respect to every parameter to Grads.
func (m *Model) Backward() error { return m.BackwardWith(kernels.Buf{}, kernels.Buf{}) }

// BackwardWith is Backward with the gradients of a stage-2 encoder's other outputs added:
// dEmbeds [B·nv, D] of VisionEmbeds and dPooled [B·P, D] of Pooled (zero Bufs for none).
// Without a Loss since the last Forward, the alignment heads contribute nothing.
func (m *Model) BackwardWith(dEmbeds, dPooled kernels.Buf) error {
	w := m.ws
	if w == nil {
		return fmt.Errorf("vit: Backward before Forward")
	}
	if (!dEmbeds.IsZero() || !dPooled.IsZero()) && !m.Cfg.Stage2 {
		return fmt.Errorf("vit: output gradients need a stage-2 encoder")
	}
	c, be, ix := m.Cfg, m.be, m.ix
	D, Hd, M := c.Dim, c.Hidden(), w.M
	head := map[int]int{}
	for k, l := range c.ReturnIndex() {
		head[l] = k
	}
	dRes := w.dA // d loss / d (current residual stream)
	be.Fill(dRes, 0)
	if err := m.finalBackward(w, dEmbeds, dPooled, dRes); err != nil {
		return err
	}
	for l := c.Depth - 1; l >= 0; l-- {
		if k, ok := head[l]; ok && w.lossed {
			m.headBackward(w, k, l, dRes)
		}
		bp := ix.blocks[l]
		xin := w.x0
		if l > 0 {
			xin = w.xs[l-1]
		}
		// MLP branch: xs[l] = xmid + s₂·fc2(GELU(fc1(LN2(xmid))))
		dBr := dRes
		if w.dropOn {
			be.ScaleRows(w.dT, dRes, w.dp.View((2*l+1)*w.B, w.B), w.B, w.nv*D)
			dBr = w.dT
		}
		models.LinearGrad(be, w.dH, dBr, w.g1[l], m.pw(bp.fc2W), m.pg(bp.fc2W), m.pg(bp.fc2B), M, Hd, D) // dH [M, Hidden]
		be.GELUBackward(w.dH, w.dH, w.h1[l])
		models.LinearGrad(be, w.dB, w.dH, w.ln2[l], m.pw(bp.fc1W), m.pg(bp.fc1W), m.pg(bp.fc1B), M, D, Hd) // [M, D]
		mean2, rstd2 := stats(w.st2[l], M)
		be.LayerNormBackward(w.dB, m.pg(bp.norm2W), m.pg(bp.norm2B), w.dB, w.xmid[l], m.pw(bp.norm2W), mean2, rstd2, M, D)
		be.Add(dRes, dRes, w.dB) // d/d xmid

		// attention branch: xmid = x + s₁·proj(attn(LN1(x)))
		dBr = dRes
		if w.dropOn {
			be.ScaleRows(w.dT, dRes, w.dp.View((2*l)*w.B, w.B), w.B, w.nv*D)
			dBr = w.dT
		}
		models.LinearGrad(be, w.dB, dBr, w.att[l], m.pw(bp.projW), m.pg(bp.projW), m.pg(bp.projB), M, D, D) // d att [M, D]
		be.AttentionBackward(kernels.AttentionGrad{Attention: m.attention(w, l), DOut: w.dB,
			DQ: w.dQKV.View(0, M*3*D), DK: w.dQKV.View(D, M*3*D-D), DV: w.dQKV.View(2*D, M*3*D-2*D)}) // [M, 3D]
		be.Fill(w.d3, 0)
		be.SumRows(w.d3, w.dQKV, M, 3*D)
		be.Add(m.pg(bp.qBias), m.pg(bp.qBias), w.d3.View(0, D))
		be.Add(m.pg(bp.vBias), m.pg(bp.vBias), w.d3.View(2*D, D))
		models.LinearGrad(be, w.dB, w.dQKV, w.ln1[l], m.pw(bp.qkvW), m.pg(bp.qkvW), kernels.Buf{}, M, D, 3*D) // [M, D]
		mean1, rstd1 := stats(w.st1[l], M)
		be.LayerNormBackward(w.dB, m.pg(bp.norm1W), m.pg(bp.norm1B), w.dB, xin, m.pw(bp.norm1W), mean1, rstd1, M, D)
		be.Add(dRes, dRes, w.dB) // d/d x
	}
	// patch embedding (the sinusoid table is constant)
	models.LinearGrad(be, kernels.Buf{}, dRes, w.patches, m.pw(ix.patchW), m.pg(ix.patchW), m.pg(ix.patchB), M, c.PatchDim(), D)
	return be.Sync()
}

// headBackward back-propagates decoder k (fed by block l) and adds its gradient to dRes.
func (m *Model) headBackward(w *workspace, k, l int, dRes kernels.Buf) {
	c, be, ix := m.Cfg, m.be, m.ix
	D, C, M := c.Dim, c.ClipDim, w.M
	hp := ix.heads[k]
	z, u, v := w.z.View(k*M*D, M*D), w.u.View(k*M*C, M*C), w.v.View(k*M*C, M*C)
	be.L2NormalizeBackward(w.dC1, w.dout.View(k*M*C, M*C), v, M, C, 0)
	hm, hr := stats(w.hst.View(k*2*M, 2*M), M)
	be.LayerNormBackward(w.dC2, m.pg(hp.normW), m.pg(hp.normB), w.dC1, u, m.pw(hp.normW), hm, hr, M, C)
	models.LinearGrad(be, w.dT, w.dC2, z, m.pw(hp.w), m.pg(hp.w), m.pg(hp.b), M, D, C) // dz [M, D]
	nm, nr := stats(w.nst.View(k*2*M, 2*M), M)
	be.LayerNormBackward(w.dT, m.pg(ix.normW), m.pg(ix.normB), w.dT, w.xs[l], m.pw(ix.normW), nm, nr, M, D)
	be.Add(dRes, dRes, w.dT)
}

// GradNorm returns the global L2 norm of the gradients, accumulated in float64.
func (m *Model) GradNorm() (float64, error) {
	m.be.SumSquares(m.gsq, m.g)
	s := make([]float32, 1)
	if err := m.be.Download(s, m.gsq); err != nil {
		return 0, err
	}
	return math.Sqrt(float64(s[0])), nil
}

// Step runs forward, loss and backward on a batch with fresh gradients and returns the loss.
func (m *Model) Step(b Batch, dropKey uint64) (float64, error) {
	m.ZeroGrads()
	if err := m.Forward(b, true, dropKey); err != nil {
		return 0, err
	}
	loss, err := m.Loss(b.Targets)
	if err != nil {
		return 0, err
	}
	return loss, m.Backward()
}
