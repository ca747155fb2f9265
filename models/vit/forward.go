package vit

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
)

// Batch is one step's input: B clips with the same number nv of visible tokens each.
type Batch struct {
	B       int
	Patches []float32 // [B·nv, PatchDim] visible patches, ascending token order per clip (Patchify)
	Tokens  []int32   // [B·nv] token index t·HW + h·G + w of each row
	Targets []float32 // [K, B, nv, ClipDim] unit teacher vectors at the same tokens (for Loss)
	// Frames is the clip's T: 0 or Config.Frames for videos; 1 for images, which a stage-2
	// encoder runs with the HW-row tables (img_pos_embed, clip_img_pos_embed: the first HW rows
	// of the same sinusoid).
	Frames int
	// KeepTemporal (stage 2) pools one vector per frame over nv/T consecutive tokens
	// (x_vis.view(B, T, -1, C).mean(2), the unmasked test path); otherwise one vector per clip
	// over all its visible tokens (training, where UMT forces keep_temporal off).
	KeepTemporal bool
}

// frames is T with its default.
func (b Batch) frames(c Config) int {
	if b.Frames == 0 {
		return c.Frames
	}
	return b.Frames
}

// poolRows is the number of pooled vectors per clip.
func (b Batch) poolRows(c Config) int {
	if b.KeepTemporal {
		return b.frames(c)
	}
	return 1
}

// Visible is nv, the visible tokens per clip.
func (b Batch) Visible() int {
	if b.B <= 0 {
		return 0
	}
	return len(b.Tokens) / b.B
}

func (m *Model) check(b Batch) error {
	c := m.Cfg
	if b.B <= 0 || len(b.Tokens) == 0 || len(b.Tokens)%b.B != 0 {
		return fmt.Errorf("vit: batch of %d clips with %d token indices; every clip needs the same number of visible tokens", b.B, len(b.Tokens))
	}
	if len(b.Patches) != len(b.Tokens)*c.PatchDim() {
		return fmt.Errorf("vit: %d patch values for %d tokens of %d values each", len(b.Patches), len(b.Tokens), c.PatchDim())
	}
	T := b.frames(c)
	if T != c.Frames && (T != 1 || !c.Stage2) {
		return fmt.Errorf("vit: a clip of %d frames; the model takes %d (or 1, an image, in stage 2)", T, c.Frames)
	}
	if T%c.Tubelet != 0 {
		return fmt.Errorf("vit: a clip of %d frames is not a multiple of tubelet %d", T, c.Tubelet)
	}
	n := T / c.Tubelet * c.HW()
	for i, t := range b.Tokens {
		if t < 0 || int(t) >= n {
			return fmt.Errorf("vit: token index %d at row %d is outside [0, %d)", t, i, n)
		}
	}
	if b.KeepTemporal && (!c.Stage2 || b.Visible()%T != 0) {
		return fmt.Errorf("vit: keep_temporal needs a stage-2 encoder and visible tokens (%d) divisible by the frames (%d)", b.Visible(), T)
	}
	return nil
}

// stats splits a [2·rows] statistics buffer into mean and rstd.
func stats(s kernels.Buf, rows int) (kernels.Buf, kernels.Buf) {
	return s.View(0, rows), s.View(rows, rows)
}

func (m *Model) attention(w *workspace, l int) kernels.Attention {
	c := m.Cfg
	D, M := c.Dim, w.M
	q := w.qkv[l]
	return kernels.Attention{
		B: w.B, H: c.Heads, Lq: w.nv, Lk: w.nv, Dh: c.HeadDim(),
		Scale: float32(math.Pow(float64(c.HeadDim()), -0.5)),
		Q:     q.View(0, M*3*D), QRow: 3 * D, QBatch: w.nv * 3 * D,
		K: q.View(D, M*3*D-D), V: q.View(2*D, M*3*D-2*D), KVRow: 3 * D, KVBatch: w.nv * 3 * D,
		Out: w.att[l], Probs: w.probs[l],
	}
}

// Forward runs the student on a batch. With train set and a positive drop-path rate, per-sample
// drop-path decisions are drawn from dropKey (use a value derived from the run seed and step).
// The unit outputs [K, B, nv, ClipDim] stay on the backend for Loss and Backward; see Outputs.
func (m *Model) Forward(b Batch, train bool, dropKey uint64) error {
	if err := m.check(b); err != nil {
		return err
	}
	c, be, ix := m.Cfg, m.be, m.ix
	D, Hd, C, PD := c.Dim, c.Hidden(), c.ClipDim, c.PatchDim()
	w := m.workspaceFor(b.B, b.Visible(), b.poolRows(c))
	M := w.M
	be.Upload(w.patches, b.Patches)
	be.UploadIndex(w.tokIdx, b.Tokens)
	m.dropScales(w, train, dropKey)

	// Conv3d patch embedding as one GEMM over the visible patches, then the fixed table's rows.
	models.Linear(be, w.x0, w.patches, m.pw(ix.patchW), m.pw(ix.patchB), M, PD, D) // [M, D]
	be.GatherRows(w.peVis, m.pe, w.tokIdx, D)                                      // [M, D]
	be.Add(w.x0, w.x0, w.peVis)

	x := w.x0
	for l, bp := range ix.blocks {
		mean1, rstd1 := stats(w.st1[l], M)
		be.LayerNorm(w.ln1[l], x, m.pw(bp.norm1W), m.pw(bp.norm1B), mean1, rstd1, M, D, Eps)
		// qkv = LN1(x) W_qkvᵀ + cat(q_bias, 0, v_bias)                  // [M, 3D]
		be.Copy(w.bias3.View(0, D), m.pw(bp.qBias))
		be.Fill(w.bias3.View(D, D), 0)
		be.Copy(w.bias3.View(2*D, D), m.pw(bp.vBias))
		models.Linear(be, w.qkv[l], w.ln1[l], m.pw(bp.qkvW), w.bias3, M, D, 3*D)
		be.Attention(m.attention(w, l))                                                 // att [M, D]
		models.Linear(be, w.xmid[l], w.att[l], m.pw(bp.projW), m.pw(bp.projB), M, D, D) // [M, D]
		if w.dropOn {
			be.ScaleRows(w.xmid[l], w.xmid[l], w.dp.View((2*l)*w.B, w.B), w.B, w.nv*D)
		}
		be.Add(w.xmid[l], x, w.xmid[l])
		mean2, rstd2 := stats(w.st2[l], M)
		be.LayerNorm(w.ln2[l], w.xmid[l], m.pw(bp.norm2W), m.pw(bp.norm2B), mean2, rstd2, M, D, Eps)
		models.Linear(be, w.h1[l], w.ln2[l], m.pw(bp.fc1W), m.pw(bp.fc1B), M, D, Hd) // [M, Hidden]
		be.GELU(w.g1[l], w.h1[l])
		models.Linear(be, w.xs[l], w.g1[l], m.pw(bp.fc2W), m.pw(bp.fc2B), M, Hd, D) // [M, D]
		if w.dropOn {
			be.ScaleRows(w.xs[l], w.xs[l], w.dp.View((2*l+1)*w.B, w.B), w.B, w.nv*D)
		}
		be.Add(w.xs[l], w.xmid[l], w.xs[l])
		x = w.xs[l]
	}

	for k, l := range c.ReturnIndex() {
		hp := ix.heads[k]
		nrm, z := w.nrm.View(k*M*D, M*D), w.z.View(k*M*D, M*D)
		u, v, out := w.u.View(k*M*C, M*C), w.v.View(k*M*C, M*C), w.out.View(k*M*C, M*C)
		nm, nr := stats(w.nst.View(k*2*M, 2*M), M)
		be.LayerNorm(nrm, w.xs[l], m.pw(ix.normW), m.pw(ix.normB), nm, nr, M, D, Eps) // [M, D]
		be.Add(z, nrm, w.peVis)                                                       // + clip PE at visible rows
		models.Linear(be, u, z, m.pw(hp.w), m.pw(hp.b), M, D, C)                      // [M, C]
		hm, hr := stats(w.hst.View(k*2*M, 2*M), M)
		be.LayerNorm(v, u, m.pw(hp.normW), m.pw(hp.normB), hm, hr, M, C, c.DecoderEps())
		be.L2Normalize(out, v, M, C, 0)
	}
	if c.Stage2 {
		m.poolForward(w)
	}
	return be.Sync()
}

// dropScales uploads per-sample drop-path scales: floor(keep + u)/keep as timm's drop_path.
func (m *Model) dropScales(w *workspace, train bool, key uint64) {
	rates := m.Cfg.DropRates()
	w.dropOn = false
	if !train {
		return
	}
	for _, r := range rates {
		if r > 0 {
			w.dropOn = true
		}
	}
	if !w.dropOn {
		return
	}
	r := newRNG(key)
	s := make([]float32, len(rates)*2*w.B)
	for l, p := range rates {
		keep := 1 - p
		for i := 0; i < 2*w.B; i++ {
			u := r.Float64()
			s[2*l*w.B+i] = float32(math.Floor(keep+u) / keep)
		}
	}
	m.be.Upload(w.dp, s)
}

// Outputs downloads the last forward's unit outputs [K, B, nv, ClipDim].
func (m *Model) Outputs() ([]float32, error) {
	if m.ws == nil {
		return nil, fmt.Errorf("vit: no forward pass has run")
	}
	out := make([]float32, m.ws.out.Len())
	return out, m.be.Download(out, m.ws.out)
}

// Loss computes UMT's alignment loss of the last forward against b.Targets
// [K, B, nv, ClipDim] and keeps its gradient for Backward.
func (m *Model) Loss(targets []float32) (float64, error) {
	w := m.ws
	if w == nil {
		return 0, fmt.Errorf("vit: Loss before Forward")
	}
	if len(targets) != w.targets.Len() {
		return 0, fmt.Errorf("vit: %d target values, want K·B·nv·C = %d", len(targets), w.targets.Len())
	}
	m.be.Upload(w.targets, targets)
	return m.alignment(m.Cfg.ReturnLayers * w.M)
}
