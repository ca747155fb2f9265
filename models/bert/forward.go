package bert

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
)

// MaskValue is the additive value xbert's get_extended_attention_mask gives padded keys of the
// self-attention: (1 − m)·−10000 (xbert.py:1119), not −inf.
const MaskValue = -10000

// CrossMaskValue is what invert_attention_mask gives masked vision tokens: (1 − m)·finfo(float32).min.
// UMT always passes an all-ones vision mask (or none), for which nothing is added.
const CrossMaskValue = -math.MaxFloat32

// Text is a batch of token sequences: B rows of L ids with their attention mask (1 real, 0 pad),
// as the tokenizer gives them. Token types are all 0, as UMT never passes any.
type Text struct {
	B, L int
	IDs  []int32 // [B·L]
	Mask []int32 // [B·L]
}

// Vision is the memory the fusion layers attend to: B clips of N tokens of width EncoderWidth
// (the visible student tokens after the final norm, [B, N, C]) on the backend. Mask [B·N] is
// optional; nil means all ones (what UMT passes).
type Vision struct {
	N      int
	Tokens kernels.Buf // [B·N, EncoderWidth]
	Mask   []int32
}

// layerActs are the activations of one layer kept for backward.
type layerActs struct {
	qkv, probs, ctx, a1, st1, x1 kernels.Buf // self-attention: packed qkv, P, context, LN input, stats, LN output
	cq, ckv, cprobs, cctx        kernels.Buf // cross-attention: q [M,H], packed kv [B·N, 2H], P, context
	a2, st2, x2                  kernels.Buf
	h, ga, a3, st3, out          kernels.Buf // FFN: dense1 out, GELU out, LN input, stats, layer output
}

// Pass is one run of the encoder over layers [lo, hi): text mode (embeddings, then
// [0, FusionLayer)) or fusion mode ([FusionLayer, Layers) on given embeddings with
// cross-attention to vision tokens). It owns its activations and, after Backward, the input
// gradients; Close frees them.
type Pass struct {
	m        *Model
	B, L, M  int
	lo, hi   int
	text     bool
	mem      arena
	ids, pos kernels.Buf // [M] int32 token and position ids (text mode)
	e, est   kernels.Buf // embedding sum before its LayerNorm, stats (text mode)
	x0       kernels.Buf // the first layer's input (text: owned; fusion: the caller's)
	keyBias  kernels.Buf // [B, L] additive self-attention mask
	vis      Vision
	visBias  kernels.Buf // [B, N] additive cross-attention mask, zero Buf for all ones
	acts     []layerActs
	back     *passGrads
}

// passGrads are the backward buffers, allocated on the first Backward.
type passGrads struct {
	dRes, dT, dB kernels.Buf // [M, H]
	dH           kernels.Buf // [M, I]
	dQKV         kernels.Buf // [M, 3H]
	dCQ          kernels.Buf // [M, H]
	dCKV         kernels.Buf // [B·N, 2H]
	dVisT, dVis  kernels.Buf // [B·N, C]
	dIn          kernels.Buf // [M, H] (fusion mode)
}

// Close frees the pass's buffers (activations and gradients).
func (p *Pass) Close() { p.mem.free() }

// Out is the last layer's output [B·L, H] (last_hidden_state), owned by the pass.
func (p *Pass) Out() kernels.Buf { return p.acts[len(p.acts)-1].out }

// Text runs mode="text": embeddings (word + token type 0 + position, LayerNorm) and layers
// [0, FusionLayer) with the padding mask. The result (Out) is text_embeds.
func (m *Model) Text(t Text) (*Pass, error) {
	c := m.Cfg
	if t.B <= 0 || t.L <= 0 || len(t.IDs) != t.B*t.L || len(t.Mask) != t.B*t.L {
		return nil, fmt.Errorf("bert: text of %d×%d needs %d ids and mask values (got %d, %d)", t.B, t.L, t.B*t.L, len(t.IDs), len(t.Mask))
	}
	if t.L > c.MaxPosition {
		return nil, fmt.Errorf("bert: sequences of %d tokens exceed max_position_embeddings %d", t.L, c.MaxPosition)
	}
	for i, id := range t.IDs {
		if id < 0 || int(id) >= c.Vocab {
			return nil, fmt.Errorf("bert: token id %d at position %d is outside the vocabulary [0, %d)", id, i, c.Vocab)
		}
	}
	p := m.newPass(t.B, t.L, 0, c.FusionLayer, true)
	H, M, be := c.Hidden, p.M, m.be
	if err := p.setMask(t.Mask); err != nil {
		p.Close()
		return nil, err
	}
	p.ids, p.pos = p.mem.index(M), p.mem.index(M)
	p.e, p.est, p.x0 = p.mem.f32(M*H), p.mem.f32(2*M), p.mem.f32(M*H)
	pos := make([]int32, M)
	for i := range pos {
		pos[i] = int32(i % t.L)
	}
	be.UploadIndex(p.ids, t.IDs)
	be.UploadIndex(p.pos, pos)
	// BertEmbeddings: (word + token_type[0]) + position, then LayerNorm (dropout is off).
	ix := m.ix
	be.GatherRows(p.e, m.pw(ix.word), p.ids, H)
	be.AddBias(p.e, m.pw(ix.typ).View(0, H), M, H)
	be.GatherRows(p.x0, m.pw(ix.pos), p.pos, H) // position rows, summed next
	be.Add(p.e, p.e, p.x0)
	mean, rstd := stats(p.est, M)
	be.LayerNorm(p.x0, p.e, m.pw(ix.embLnW), m.pw(ix.embLnB), mean, rstd, M, H, float32(c.Eps))
	if err := p.run(); err != nil {
		return nil, err
	}
	return p, nil
}

// Fusion runs mode="fusion": layers [FusionLayer, Layers) on encoder_embeds x [B·L, H] (the
// text-mode output; no embedding layer) with the padding mask, each layer's cross-attention
// reading v. x and v.Tokens stay the caller's and must outlive the pass.
func (m *Model) Fusion(x kernels.Buf, mask []int32, B, L int, v Vision) (*Pass, error) {
	c := m.Cfg
	if B <= 0 || L <= 0 || x.Len() != B*L*c.Hidden || len(mask) != B*L {
		return nil, fmt.Errorf("bert: fusion input of %d×%d needs [B·L, H] = %d values and %d mask values (got %d, %d)", B, L, B*L*c.Hidden, B*L, x.Len(), len(mask))
	}
	if v.N <= 0 || v.Tokens.Len() != B*v.N*c.EncoderWidth || (v.Mask != nil && len(v.Mask) != B*v.N) {
		return nil, fmt.Errorf("bert: vision memory of %d clips × %d tokens needs %d values of width encoder_width %d (got %d) and a nil or [B·N] mask",
			B, v.N, B*v.N*c.EncoderWidth, c.EncoderWidth, v.Tokens.Len())
	}
	if c.FusionLayer == c.Layers {
		return nil, fmt.Errorf("bert: fusion_layer %d equals num_hidden_layers: the model has no fusion layers", c.FusionLayer)
	}
	p := m.newPass(B, L, c.FusionLayer, c.Layers, false)
	p.x0, p.vis = x, v
	if err := p.setMask(mask); err != nil {
		p.Close()
		return nil, err
	}
	if v.Mask != nil {
		bias, any := make([]float32, len(v.Mask)), false
		for i, mv := range v.Mask {
			if mv != 0 && mv != 1 {
				p.Close()
				return nil, fmt.Errorf("bert: vision mask value %d at %d; want 0 or 1", mv, i)
			}
			if mv == 0 {
				bias[i], any = CrossMaskValue, true
			}
		}
		if any {
			p.visBias = p.mem.f32(len(bias))
			m.be.Upload(p.visBias, bias)
		}
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p, nil
}

func (m *Model) newPass(B, L, lo, hi int, text bool) *Pass {
	return &Pass{m: m, B: B, L: L, M: B * L, lo: lo, hi: hi, text: text, mem: arena{be: m.be}}
}

// setMask uploads the extended self-attention mask (1 − m)·−10000.
func (p *Pass) setMask(mask []int32) error {
	bias := make([]float32, len(mask))
	for i, mv := range mask {
		switch mv {
		case 0:
			bias[i] = MaskValue
		case 1:
		default:
			return fmt.Errorf("bert: attention mask value %d at %d; want 0 or 1", mv, i)
		}
	}
	p.keyBias = p.mem.f32(len(bias))
	p.m.be.Upload(p.keyBias, bias)
	return nil
}

// stats splits a [2·rows] statistics buffer into mean and rstd.
func stats(s kernels.Buf, rows int) (kernels.Buf, kernels.Buf) {
	return s.View(0, rows), s.View(rows, rows)
}

func (p *Pass) selfAttention(a *layerActs) kernels.Attention {
	c := p.m.Cfg
	H, M := c.Hidden, p.M
	return kernels.Attention{
		B: p.B, H: c.Heads, Lq: p.L, Lk: p.L, Dh: c.HeadDim(), Scale: kernels.AttnScale(c.HeadDim()),
		Q: a.qkv.View(0, M*3*H), QRow: 3 * H, QBatch: p.L * 3 * H,
		K: a.qkv.View(H, M*3*H-H), V: a.qkv.View(2*H, M*3*H-2*H), KVRow: 3 * H, KVBatch: p.L * 3 * H,
		Out: a.ctx, KeyBias: p.keyBias, Probs: a.probs,
	}
}

func (p *Pass) crossAttention(a *layerActs) kernels.Attention {
	c := p.m.Cfg
	H, Mv := c.Hidden, p.B*p.vis.N
	return kernels.Attention{
		B: p.B, H: c.Heads, Lq: p.L, Lk: p.vis.N, Dh: c.HeadDim(), Scale: kernels.AttnScale(c.HeadDim()),
		Q: a.cq, QRow: H, QBatch: p.L * H,
		K: a.ckv.View(0, Mv*2*H), V: a.ckv.View(H, Mv*2*H-H), KVRow: 2 * H, KVBatch: p.vis.N * 2 * H,
		Out: a.cctx, KeyBias: p.visBias, Probs: a.cprobs,
	}
}

// layerInput is the input of the pass's k-th layer.
func (p *Pass) layerInput(k int) kernels.Buf {
	if k == 0 {
		return p.x0
	}
	return p.acts[k-1].out
}

// run allocates the activations and runs layers [lo, hi) (xbert BertLayer: post-LN
// self-attention, cross-attention in fusion layers, exact-GELU FFN).
func (p *Pass) run() error {
	m, c, be := p.m, p.m.Cfg, p.m.be
	H, I, M, eps := c.Hidden, c.Intermediate, p.M, float32(c.Eps)
	nh := c.Heads
	for l := p.lo; l < p.hi; l++ {
		lp := m.ix.layers[l]
		k := l - p.lo
		p.acts = append(p.acts, layerActs{})
		a := &p.acts[k]
		x := p.layerInput(k)
		// self-attention: ctx = softmax(q kᵀ/√d + mask) v; x1 = LN(dense(ctx) + x)
		a.qkv, a.probs, a.ctx = p.mem.f32(M*3*H), p.mem.f32(p.B*nh*p.L*p.L), p.mem.f32(M*H)
		a.a1, a.st1, a.x1 = p.mem.f32(M*H), p.mem.f32(2*M), p.mem.f32(M*H)
		models.Linear(be, a.qkv, x, m.pwn(lp.self.qW, 3*H*H), m.pwn(lp.self.qB, 3*H), M, H, 3*H)
		be.Attention(p.selfAttention(a))
		models.Linear(be, a.a1, a.ctx, m.pw(lp.self.oW), m.pw(lp.self.oB), M, H, H)
		be.Add(a.a1, a.a1, x)
		mean, rstd := stats(a.st1, M)
		be.LayerNorm(a.x1, a.a1, m.pw(lp.self.lnW), m.pw(lp.self.lnB), mean, rstd, M, H, eps)
		y := a.x1
		if lp.hasCross {
			// cross-attention: q from the text, k and v = Linear(encoder_width → H) of the vision tokens
			Mv, C := p.B*p.vis.N, c.EncoderWidth
			a.cq, a.ckv, a.cprobs, a.cctx = p.mem.f32(M*H), p.mem.f32(Mv*2*H), p.mem.f32(p.B*nh*p.L*p.vis.N), p.mem.f32(M*H)
			a.a2, a.st2, a.x2 = p.mem.f32(M*H), p.mem.f32(2*M), p.mem.f32(M*H)
			models.Linear(be, a.cq, a.x1, m.pw(lp.cross.qW), m.pw(lp.cross.qB), M, H, H)
			models.Linear(be, a.ckv, p.vis.Tokens, m.pwn(lp.cross.kW, 2*H*C), m.pwn(lp.cross.kB, 2*H), Mv, C, 2*H)
			be.Attention(p.crossAttention(a))
			models.Linear(be, a.a2, a.cctx, m.pw(lp.cross.oW), m.pw(lp.cross.oB), M, H, H)
			be.Add(a.a2, a.a2, a.x1)
			mean, rstd := stats(a.st2, M)
			be.LayerNorm(a.x2, a.a2, m.pw(lp.cross.lnW), m.pw(lp.cross.lnB), mean, rstd, M, H, eps)
			y = a.x2
		}
		// FFN: out = LN(dense2(GELU(dense1(y))) + y)
		a.h, a.ga, a.a3, a.st3, a.out = p.mem.f32(M*I), p.mem.f32(M*I), p.mem.f32(M*H), p.mem.f32(2*M), p.mem.f32(M*H)
		models.Linear(be, a.h, y, m.pw(lp.inW), m.pw(lp.inB), M, H, I)
		be.GELU(a.ga, a.h)
		models.Linear(be, a.a3, a.ga, m.pw(lp.outW), m.pw(lp.outB), M, I, H)
		be.Add(a.a3, a.a3, y)
		mean, rstd = stats(a.st3, M)
		be.LayerNorm(a.out, a.a3, m.pw(lp.outLnW), m.pw(lp.outLnB), mean, rstd, M, H, eps)
	}
	if len(p.acts) == 0 { // fusion_layer 0: text mode is the embeddings alone
		p.acts = append(p.acts, layerActs{out: p.x0})
	}
	if err := be.Sync(); err != nil {
		p.Close()
		return err
	}
	return nil
}
