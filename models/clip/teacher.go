package clip

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
)

// Teacher runs the CLIP teacher on a kernels.Backend. It owns the parameter and work buffers
// (freed by Close) and reuses them across calls. A Teacher is not safe for concurrent use: give
// each goroutine its own Teacher (and Backend).
type Teacher struct {
	cfg       Config
	be        kernels.Backend
	p         params
	maxFrames int   // frames per chunk
	work      *work // sized for maxFrames, allocated on first use
	lut       [3][256]float32
	host      struct{ patches, planes, resized, headMean []float32 }
	pooled    []float32 // [B·T, O] when EncodePooled runs: the CLS embeddings go here
}

// params are the weights on the backend.
type params struct {
	conv, pos, lnPreW, lnPreB, lnPostW, lnPostB, proj kernels.Buf // pos: [L, D], class folded in
	blocks                                            []blockBufs
}

type blockBufs struct{ ln1W, ln1B, inW, inB, outW, outB, ln2W, ln2B, fcW, fcB, cpW, cpB kernels.Buf }

// work are the activation buffers for one chunk of F frames, L = 1+HW tokens each.
type work struct {
	patches  kernels.Buf // [F·HW, 3P²]
	x, h     kernels.Buf // [F·L, D] residual stream, block scratch
	qkv      kernels.Buf // [F·L, 3D]
	att      kernels.Buf // [F·L, D]
	mlp      kernels.Buf // [F·L, M]
	tok      kernels.Buf // [F·HW, D] patch tokens of a returned block
	feat     kernels.Buf // [F·HW, O]
	headMean kernels.Buf // [F, L] CLS-row attention averaged over heads
}

// Options tune a Teacher.
type Options struct {
	// MaxFrames bounds the frames processed together (memory ~ MaxFrames·L·(6D+M) floats);
	// default 8.
	MaxFrames int
}

// New uploads the weights to be and returns a Teacher. cfg must be complete (as returned by Load
// or FromFile, or a preset with weights to match).
func New(be kernels.Backend, cfg Config, w *Weights, o Options) (*Teacher, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := w.check(cfg); err != nil {
		return nil, err
	}
	t := &Teacher{cfg: cfg, be: be, maxFrames: o.MaxFrames, lut: normLUT(cfg.Mean, cfg.Std)}
	if t.maxFrames <= 0 {
		t.maxFrames = 8
	}
	up := func(v []float32) kernels.Buf {
		b := be.Alloc(len(v))
		be.Upload(b, v)
		return b
	}
	D, G := cfg.Width, cfg.Grid()
	// The positional table at the run grid, with the class embedding folded into its CLS row:
	// added to every frame's [L, D] block in one AddBias.
	pos := resizePos(w.Pos, cfg.PosGrid, G, D)
	for j := 0; j < D; j++ {
		pos[j] += w.Class[j]
	}
	t.p.conv, t.p.pos = up(w.Conv), up(pos)
	t.p.lnPreW, t.p.lnPreB = up(w.LnPreW), up(w.LnPreB)
	t.p.lnPostW, t.p.lnPostB, t.p.proj = up(w.LnPostW), up(w.LnPostB), up(w.Proj)
	for _, b := range w.Blocks {
		t.p.blocks = append(t.p.blocks, blockBufs{
			up(b.Ln1W), up(b.Ln1B), up(b.InW), up(b.InB), up(b.OutW), up(b.OutB),
			up(b.Ln2W), up(b.Ln2B), up(b.FcW), up(b.FcB), up(b.CProjW), up(b.CProjB),
		})
	}
	if err := be.Sync(); err != nil {
		t.Close()
		return nil, fmt.Errorf("clip: uploading weights: %w", err)
	}
	return t, nil
}

// Config returns the teacher's complete configuration.
func (t *Teacher) Config() Config { return t.cfg }

// Close frees every buffer the Teacher allocated on its backend.
func (t *Teacher) Close() error {
	free := func(bs ...kernels.Buf) {
		for _, b := range bs {
			if !b.IsZero() {
				t.be.Free(b)
			}
		}
	}
	p := &t.p
	free(p.conv, p.pos, p.lnPreW, p.lnPreB, p.lnPostW, p.lnPostB, p.proj)
	for _, b := range p.blocks {
		free(b.ln1W, b.ln1B, b.inW, b.inB, b.outW, b.outB, b.ln2W, b.ln2B, b.fcW, b.fcB, b.cpW, b.cpB)
	}
	t.p = params{}
	if w := t.work; w != nil {
		free(w.patches, w.x, w.h, w.qkv, w.att, w.mlp, w.tok, w.feat, w.headMean)
		t.work = nil
	}
	return t.be.Sync()
}

func (t *Teacher) ensureWork() {
	if t.work != nil {
		return
	}
	c, F := t.cfg, t.maxFrames
	HW, L, D := c.Tokens(), c.Tokens()+1, c.Width
	be := t.be
	t.work = &work{
		patches: be.Alloc(F * HW * 3 * c.Patch * c.Patch),
		x:       be.Alloc(F * L * D), h: be.Alloc(F * L * D),
		qkv: be.Alloc(F * L * 3 * D), att: be.Alloc(F * L * D), mlp: be.Alloc(F * L * c.MLPDim),
		tok: be.Alloc(F * HW * D), feat: be.Alloc(F * HW * c.OutputDim), headMean: be.Alloc(F * L),
	}
}

// Sizes returns the lengths Encode's outputs have for B videos of T frames: features
// [K, B, T·HW, O] and attention [B·T, HW].
func (t *Teacher) Sizes(B, T int) (feats, attn int) {
	c := t.cfg
	return c.ReturnLayers * B * T * c.Tokens() * c.OutputDim, B * T * c.Tokens()
}

// Encode runs the teacher on frames, uint8 RGB [B, T, H, W, 3], and returns the features
// [K, B, T·HW, O] (K returned blocks ascending, tokens frame-major t·HW + h·G + w) and the last
// block's CLS→patch attention averaged over heads [B·T, HW].
func (t *Teacher) Encode(frames []byte, B, T, H, W int) (feats, attn []float32, err error) {
	nf, na := t.Sizes(B, T)
	feats, attn = make([]float32, nf), make([]float32, na)
	if err := t.EncodeTo(feats, attn, frames, B, T, H, W); err != nil {
		return nil, nil, err
	}
	return feats, attn, nil
}

// EncodeTo is Encode writing into caller-provided slices of the lengths Sizes gives (reuse them
// across calls to avoid allocation). attn may be nil when not wanted.
func (t *Teacher) EncodeTo(feats, attn []float32, frames []byte, B, T, H, W int) error {
	if t.work == nil && len(t.p.blocks) == 0 {
		return fmt.Errorf("clip: Encode on a closed Teacher")
	}
	if B <= 0 || T <= 0 || H <= 0 || W <= 0 {
		return fmt.Errorf("clip: Encode needs positive B, T, H, W (got %d, %d, %d, %d)", B, T, H, W)
	}
	if len(frames) != B*T*H*W*3 {
		return fmt.Errorf("clip: frames hold %d bytes, want B·T·H·W·3 = %d·%d·%d·%d·3 = %d", len(frames), B, T, H, W, B*T*H*W*3)
	}
	nf, na := t.Sizes(B, T)
	if len(feats) != nf || attn != nil && len(attn) != na {
		return fmt.Errorf("clip: output slices of %d and %d values, want %d and %d", len(feats), len(attn), nf, na)
	}
	t.ensureWork()
	total := B * T
	for f0 := 0; f0 < total; f0 += t.maxFrames {
		n := min(t.maxFrames, total-f0)
		if err := t.chunk(feats, attn, frames, f0, n, total, H, W); err != nil {
			return err
		}
	}
	return nil
}

// chunk runs frames [f0, f0+F) of total through the network.
func (t *Teacher) chunk(feats, attn []float32, frames []byte, f0, F, total, H, W int) error {
	c, be, w := t.cfg, t.be, t.work
	D, M, O, P := c.Width, c.MLPDim, c.OutputDim, c.Patch
	HW := c.Tokens()
	L, R := HW+1, F*(HW+1)
	cols := 3 * P * P

	// Host: normalise, resize, cut into patches.
	hp := &t.host
	hp.patches = grow(hp.patches, F*HW*cols)
	hp.planes = grow(hp.planes, 3*H*W)
	hp.resized = grow(hp.resized, 3*c.Resolution*c.Resolution)
	for f := 0; f < F; f++ {
		fr := frames[(f0+f)*H*W*3 : (f0+f+1)*H*W*3]
		framePatches(hp.patches[f*HW*cols:(f+1)*HW*cols], fr, H, W, &t.lut, c.Resolution, P, hp.planes, hp.resized)
	}
	patches := w.patches.View(0, F*HW*cols)
	be.Upload(patches, hp.patches[:F*HW*cols])

	// Patch embedding [F·HW, D] into rows 1..HW of each frame's block, CLS rows zero, then
	// CLS + positional embedding added per frame.
	x, h := w.x.View(0, R*D), w.h.View(0, R*D)
	tok := w.tok.View(0, F*HW*D)
	models.Linear(be, tok, patches, t.p.conv, kernels.Buf{}, F*HW, cols, D) // [F·HW, D]
	be.Fill(x, 0)
	be.CopyRows(x.View(D, R*D-D), L*D, tok, HW*D, F, HW*D) // [F, 1+HW, D]
	be.AddBias(x, t.p.pos, F, L*D)
	be.LayerNorm(x, x, t.p.lnPreW, t.p.lnPreB, kernels.Buf{}, kernels.Buf{}, R, D, c.Eps)

	ret := c.ReturnIndices()
	qkv, att, mlp := w.qkv.View(0, R*3*D), w.att.View(0, R*D), w.mlp.View(0, R*M)
	for l, b := range t.p.blocks {
		// x += out_proj(MHA(ln_1(x)))
		be.LayerNorm(h, x, b.ln1W, b.ln1B, kernels.Buf{}, kernels.Buf{}, R, D, c.Eps)
		models.Linear(be, qkv, h, b.inW, b.inB, R, D, 3*D) // [F·L, 3D]
		a := kernels.Attention{
			B: F, H: c.Heads, Lq: L, Lk: L, Dh: D / c.Heads, Scale: kernels.AttnScale(D / c.Heads),
			Q: qkv.View(0, R*3*D-2*D), K: qkv.View(D, R*3*D-2*D), V: qkv.View(2*D, R*3*D-2*D),
			QRow: 3 * D, KVRow: 3 * D, QBatch: L * 3 * D, KVBatch: L * 3 * D, Out: att,
		}
		if l == c.Layers-1 {
			a.HeadMean, a.HeadMeanRow = w.headMean.View(0, F*L), 0
		}
		be.Attention(a)
		models.Linear(be, h, att, b.outW, b.outB, R, D, D)
		be.Add(x, x, h)
		// x += c_proj(QuickGELU(c_fc(ln_2(x))))
		be.LayerNorm(h, x, b.ln2W, b.ln2B, kernels.Buf{}, kernels.Buf{}, R, D, c.Eps)
		models.Linear(be, mlp, h, b.fcW, b.fcB, R, D, M)
		be.QuickGELU(mlp, mlp)
		models.Linear(be, h, mlp, b.cpW, b.cpB, R, M, D)
		be.Add(x, x, h)

		for k, idx := range ret {
			if idx != l {
				continue
			}
			// Patch tokens (CLS dropped) → ln_post → @ proj → L2.
			be.CopyRows(tok, HW*D, x.View(D, R*D-D), L*D, F, HW*D) // [F·HW, D]
			be.LayerNorm(tok, tok, t.p.lnPostW, t.p.lnPostB, kernels.Buf{}, kernels.Buf{}, F*HW, D, c.Eps)
			feat := w.feat.View(0, F*HW*O)
			be.Gemm(kernels.Gemm{M: F * HW, N: O, K: D, Alpha: 1, A: tok, LDA: D, B: t.p.proj, LDB: O, C: feat, LDC: O})
			if c.Norm == "l2" {
				be.L2Normalize(feat, feat, F*HW, O, 0)
			}
			off := (k*total + f0) * HW * O // [K, B·T, HW, O]
			if err := be.Download(feats[off:off+F*HW*O], feat); err != nil {
				return fmt.Errorf("clip: block %d: %w", l, err)
			}
		}
	}
	if t.pooled != nil {
		if err := t.poolCLS(f0, F); err != nil {
			return err
		}
	}
	if attn != nil {
		hp.headMean = grow(hp.headMean, F*L)
		if err := be.Download(hp.headMean[:F*L], w.headMean.View(0, F*L)); err != nil {
			return fmt.Errorf("clip: attention: %w", err)
		}
		for f := 0; f < F; f++ {
			copy(attn[(f0+f)*HW:(f0+f+1)*HW], hp.headMean[f*L+1:(f+1)*L]) // drop the CLS column
		}
	}
	return be.Sync()
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
