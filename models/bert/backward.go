package bert

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
)

// Backward adds the gradient of a loss with respect to every parameter the pass used to the
// model's Grads, given dOut [B·L, H], the gradient with respect to Out (not modified). In fusion
// mode it also leaves the gradients of the inputs: DIn with respect to the encoder_embeds and
// DVision with respect to the vision tokens (summed over the fusion layers), so a caller can
// continue into the text pass and the vision encoder. Text mode ends in the embedding tables
// (word and position rows by scatter-add, token-type row 0).
func (p *Pass) Backward(dOut kernels.Buf) error {
	m, c, be := p.m, p.m.Cfg, p.m.be
	H, I, M := c.Hidden, c.Intermediate, p.M
	if dOut.Len() != M*H {
		return fmt.Errorf("bert: dOut has %d values, want [B·L, H] = %d", dOut.Len(), M*H)
	}
	g := p.grads()
	be.Copy(g.dRes, dOut)
	for l := p.hi - 1; l >= p.lo; l-- {
		lp, a := m.ix.layers[l], &p.acts[l-p.lo]
		x := p.layerInput(l - p.lo)
		y := a.x1
		if lp.hasCross {
			y = a.x2
		}
		// FFN: out = LN(a3), a3 = y + dense2(GELU(dense1(y)))
		mean, rstd := stats(a.st3, M)
		be.LayerNormBackward(g.dT, m.pg(lp.outLnW), m.pg(lp.outLnB), g.dRes, a.a3, m.pw(lp.outLnW), mean, rstd, M, H)
		models.LinearGrad(be, g.dH, g.dT, a.ga, m.pw(lp.outW), m.pg(lp.outW), m.pg(lp.outB), M, I, H)
		be.GELUBackward(g.dH, g.dH, a.h)
		models.LinearGrad(be, g.dB, g.dH, y, m.pw(lp.inW), m.pg(lp.inW), m.pg(lp.inB), M, H, I)
		be.Add(g.dRes, g.dT, g.dB) // d y
		if lp.hasCross {
			// x2 = LN(a2), a2 = x1 + dense(cross(q(x1), kv(vision)))
			Mv, C := p.B*p.vis.N, c.EncoderWidth
			mean, rstd := stats(a.st2, M)
			be.LayerNormBackward(g.dT, m.pg(lp.cross.lnW), m.pg(lp.cross.lnB), g.dRes, a.a2, m.pw(lp.cross.lnW), mean, rstd, M, H)
			models.LinearGrad(be, g.dB, g.dT, a.cctx, m.pw(lp.cross.oW), m.pg(lp.cross.oW), m.pg(lp.cross.oB), M, H, H)
			be.AttentionBackward(kernels.AttentionGrad{Attention: p.crossAttention(a), DOut: g.dB,
				DQ: g.dCQ, DK: g.dCKV.View(0, Mv*2*H), DV: g.dCKV.View(H, Mv*2*H-H)})
			models.LinearGrad(be, g.dB, g.dCQ, a.x1, m.pw(lp.cross.qW), m.pg(lp.cross.qW), m.pg(lp.cross.qB), M, H, H)
			models.LinearGrad(be, g.dVisT, g.dCKV, p.vis.Tokens, m.pwn(lp.cross.kW, 2*H*C), m.pgn(lp.cross.kW, 2*H*C), m.pgn(lp.cross.kB, 2*H), Mv, C, 2*H)
			be.Add(g.dVis, g.dVis, g.dVisT)
			be.Add(g.dRes, g.dT, g.dB) // d x1
		}
		// x1 = LN(a1), a1 = x + dense(self(qkv(x)))
		mean, rstd = stats(a.st1, M)
		be.LayerNormBackward(g.dT, m.pg(lp.self.lnW), m.pg(lp.self.lnB), g.dRes, a.a1, m.pw(lp.self.lnW), mean, rstd, M, H)
		models.LinearGrad(be, g.dB, g.dT, a.ctx, m.pw(lp.self.oW), m.pg(lp.self.oW), m.pg(lp.self.oB), M, H, H)
		be.AttentionBackward(kernels.AttentionGrad{Attention: p.selfAttention(a), DOut: g.dB,
			DQ: g.dQKV.View(0, M*3*H), DK: g.dQKV.View(H, M*3*H-H), DV: g.dQKV.View(2*H, M*3*H-2*H)})
		models.LinearGrad(be, g.dB, g.dQKV, x, m.pwn(lp.self.qW, 3*H*H), m.pgn(lp.self.qW, 3*H*H), m.pgn(lp.self.qB, 3*H), M, H, 3*H)
		be.Add(g.dRes, g.dT, g.dB) // d x
	}
	if p.text {
		ix := m.ix
		mean, rstd := stats(p.est, M)
		be.LayerNormBackward(g.dT, m.pg(ix.embLnW), m.pg(ix.embLnB), g.dRes, p.e, m.pw(ix.embLnW), mean, rstd, M, H)
		be.ScatterAddRows(m.pg(ix.word), g.dT, p.ids, H)
		be.ScatterAddRows(m.pg(ix.pos), g.dT, p.pos, H)
		be.SumRows(m.pg(ix.typ).View(0, H), g.dT, M, H)
	} else {
		be.Copy(g.dIn, g.dRes)
	}
	return be.Sync()
}

// DIn is the gradient with respect to the fusion pass's input (encoder_embeds) [B·L, H] after
// Backward; the zero Buf for a text pass or before Backward.
func (p *Pass) DIn() kernels.Buf {
	if p.back == nil {
		return kernels.Buf{}
	}
	return p.back.dIn
}

// DVision is the gradient with respect to the vision tokens [B·N, EncoderWidth] after a fusion
// pass's Backward; the zero Buf otherwise.
func (p *Pass) DVision() kernels.Buf {
	if p.back == nil {
		return kernels.Buf{}
	}
	return p.back.dVis
}

func (p *Pass) grads() *passGrads {
	c := p.m.Cfg
	H, M := c.Hidden, p.M
	if p.back == nil {
		g := &passGrads{}
		g.dRes, g.dT, g.dB = p.mem.f32(M*H), p.mem.f32(M*H), p.mem.f32(M*H)
		g.dH, g.dQKV = p.mem.f32(M*c.Intermediate), p.mem.f32(M*3*H)
		if !p.text {
			Mv := p.B * p.vis.N
			g.dCQ, g.dCKV = p.mem.f32(M*H), p.mem.f32(Mv*2*H)
			g.dVisT, g.dVis = p.mem.f32(Mv*c.EncoderWidth), p.mem.f32(Mv*c.EncoderWidth)
			g.dIn = p.mem.f32(M * H)
		}
		p.back = g
	}
	if !p.text {
		p.m.be.Fill(p.back.dVis, 0)
	}
	return p.back
}
