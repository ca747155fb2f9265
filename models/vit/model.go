package vit

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// Eps is the LayerNorm epsilon of every student norm (encoder blocks, final norm, decoders).
const Eps = 1e-6

// Model is a student on one backend: parameters, their gradients, the two fixed sinusoid tables
// and the activations of the last forward pass (kept for backward).
type Model struct {
	Cfg    Config
	be     kernels.Trainer
	params []Param
	ix     index
	w, g   kernels.Buf // flat parameters and gradients, layout order
	pe     kernels.Buf // [Tokens, Dim] encoder sinusoid table (also the clip_pos_embed table)
	gsq    kernels.Buf // [1] squared gradient norm
	ws     *workspace
}

// New allocates a model with the given flat parameters (layout order, e.g. from InitParams or
// ParamsFromState).
func New(be kernels.Trainer, cfg Config, flat []float32) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps := layout(cfg)
	if len(flat) != cfg.Params() {
		return nil, fmt.Errorf("vit: %d parameter values for a config with %d", len(flat), cfg.Params())
	}
	m := &Model{Cfg: cfg, be: be, params: ps, ix: buildIndex(cfg, ps)}
	m.w = be.Alloc(len(flat))
	m.g = be.Alloc(len(flat))
	be.Upload(m.w, flat)
	m.pe = be.Alloc(cfg.Tokens() * cfg.Dim)
	be.Upload(m.pe, Sinusoid(cfg.Tokens(), cfg.Dim))
	m.gsq = be.Alloc(1)
	if err := be.Sync(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close frees every buffer the model holds.
func (m *Model) Close() {
	if m.ws != nil {
		m.ws.free(m.be)
		m.ws = nil
	}
	for _, b := range []*kernels.Buf{&m.w, &m.g, &m.pe, &m.gsq} {
		if !b.IsZero() {
			m.be.Free(*b)
			*b = kernels.Buf{}
		}
	}
}

// Backend is the backend the model runs on.
func (m *Model) Backend() kernels.Trainer { return m.be }

// Params lists the tensors in official order with their offsets in the flat buffers.
func (m *Model) Params() []Param { return m.params }

// Weights is the flat parameter buffer; Grads the flat gradient buffer (same layout).
func (m *Model) Weights() kernels.Buf { return m.w }

// Grads is the flat gradient buffer.
func (m *Model) Grads() kernels.Buf { return m.g }

// Groups returns the flat ranges [off, off+n) of the decayed and the non-decayed parameters.
func (m *Model) Groups() (decayOff, decayLen, restOff, restLen int) {
	for _, p := range m.params {
		if p.Decay {
			decayLen += p.Len
		} else {
			restLen += p.Len
		}
	}
	return 0, decayLen, decayLen, restLen
}

func (m *Model) pw(i int) kernels.Buf { return m.w.View(m.params[i].Off, m.params[i].Len) }
func (m *Model) pg(i int) kernels.Buf { return m.g.View(m.params[i].Off, m.params[i].Len) }

// Download copies the flat parameters to the host.
func (m *Model) Download() ([]float32, error) {
	out := make([]float32, m.w.Len())
	return out, m.be.Download(out, m.w)
}

// DownloadGrads copies the flat gradients to the host.
func (m *Model) DownloadGrads() ([]float32, error) {
	out := make([]float32, m.g.Len())
	return out, m.be.Download(out, m.g)
}

// workspace holds the activations of one batch shape.
type workspace struct {
	B, nv, M int // clips, visible tokens per clip, rows = B·nv
	bufs     []kernels.Buf
	patches  kernels.Buf   // [M, PatchDim]
	tokIdx   kernels.Buf   // [M] int32 token index of each visible row
	x0       kernels.Buf   // [M, D] embedding + PE
	xs       []kernels.Buf // block outputs, xs[l] [M, D]
	ln1, ln2 []kernels.Buf // [M, D]
	st1, st2 []kernels.Buf // [2M] mean then rstd
	qkv      []kernels.Buf // [M, 3D]
	probs    []kernels.Buf // [B, H, nv, nv]
	att      []kernels.Buf // [M, D] attention output before proj
	xmid     []kernels.Buf // [M, D] after the attention residual
	h1, g1   []kernels.Buf // [M, Hidden] fc1 output and GELU output
	dp       kernels.Buf   // [Depth, 2, B] drop-path scales (0 or 1/keep)
	bias3    kernels.Buf   // [3D] cat(q_bias, 0, v_bias)
	peVis    kernels.Buf   // [M, D] clip PE rows at visible positions
	nrm      kernels.Buf   // [K, M, D] shared-norm outputs
	nst      kernels.Buf   // [K, 2M]
	z        kernels.Buf   // [K, M, D] decoder inputs
	u        kernels.Buf   // [K, M, C] head outputs
	hst      kernels.Buf   // [K, 2M]
	v        kernels.Buf   // [K, M, C] after the decoder norm
	out      kernels.Buf   // [K, M, C] unit outputs
	targets  kernels.Buf   // [K, M, C]
	dout     kernels.Buf   // [K, M, C]
	loss     kernels.Buf   // [1]
	gsq      kernels.Buf   // [1]
	dA, dB   kernels.Buf   // [M, D] residual-stream gradients
	dT       kernels.Buf   // [M, D] scratch
	dH       kernels.Buf   // [M, Hidden] scratch
	dQKV     kernels.Buf   // [M, 3D]
	dC1, dC2 kernels.Buf   // [M, C] scratch
	d3       kernels.Buf   // [3D] scratch
	dropOn   bool
	lossed   bool // Loss ran since the last Forward: dout holds the heads' gradient
	// stage 2
	pool   int         // pooled vectors per clip (1, or T with keep_temporal)
	xvis   kernels.Buf // [M, D] final norm of the last block: vision_embeds
	xst    kernels.Buf // [2M]
	ones   kernels.Buf // [nv] for the mean-pooling GEMMs
	pmean  kernels.Buf // [B·pool, D] token means
	pst    kernels.Buf // [2·B·pool]
	pooled kernels.Buf // [B·pool, D] pool_norm output
	dPm    kernels.Buf // [B·pool, D] scratch
}

func (m *Model) workspaceFor(B, nv, pool int) *workspace {
	if m.ws != nil && m.ws.B == B && m.ws.nv == nv && m.ws.pool == pool {
		m.ws.lossed = false
		return m.ws
	}
	if m.ws != nil {
		m.ws.free(m.be)
	}
	c := m.Cfg
	D, Hd, C, K, L := c.Dim, c.Hidden(), c.ClipDim, c.ReturnLayers, c.Depth
	M := B * nv
	w := &workspace{B: B, nv: nv, M: M, pool: pool}
	a := func(n int) kernels.Buf {
		b := m.be.Alloc(n)
		w.bufs = append(w.bufs, b)
		return b
	}
	w.patches = a(M * c.PatchDim())
	w.tokIdx = m.be.AllocIndex(M)
	w.bufs = append(w.bufs, w.tokIdx)
	w.x0 = a(M * D)
	for l := 0; l < L; l++ {
		w.xs = append(w.xs, a(M*D))
		w.ln1 = append(w.ln1, a(M*D))
		w.ln2 = append(w.ln2, a(M*D))
		w.st1 = append(w.st1, a(2*M))
		w.st2 = append(w.st2, a(2*M))
		w.qkv = append(w.qkv, a(M*3*D))
		w.probs = append(w.probs, a(B*c.Heads*nv*nv))
		w.att = append(w.att, a(M*D))
		w.xmid = append(w.xmid, a(M*D))
		w.h1 = append(w.h1, a(M*Hd))
		w.g1 = append(w.g1, a(M*Hd))
	}
	w.dp = a(L * 2 * B)
	w.bias3 = a(3 * D)
	w.peVis = a(M * D)
	w.nrm = a(K * M * D)
	w.nst = a(K * 2 * M)
	w.z = a(K * M * D)
	w.u = a(K * M * C)
	w.hst = a(K * 2 * M)
	w.v = a(K * M * C)
	w.out = a(K * M * C)
	w.targets = a(K * M * C)
	w.dout = a(K * M * C)
	w.loss = a(1)
	w.dA = a(M * D)
	w.dB = a(M * D)
	w.dT = a(M * D)
	w.dH = a(M * Hd)
	w.dQKV = a(M * 3 * D)
	w.dC1 = a(M * C)
	w.dC2 = a(M * C)
	w.d3 = a(3 * D)
	if c.Stage2 {
		w.xvis, w.xst, w.ones = a(M*D), a(2*M), a(nv)
		m.be.Fill(w.ones, 1)
		w.pmean, w.pst, w.pooled, w.dPm = a(B*pool*D), a(2*B*pool), a(B*pool*D), a(B*pool*D)
	}
	m.ws = w
	return w
}

func (w *workspace) free(be kernels.Backend) {
	for _, b := range w.bufs {
		be.Free(b)
	}
	w.bufs = nil
}
