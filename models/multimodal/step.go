package multimodal

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/umt"
	"github.com/umt-dev/umt/models/vit"
)

// Batch is one stage-2 training batch: a whole video batch or a whole image batch (T = 1).
type Batch struct {
	Vision  vit.Batch // visible patches (semantic mask), their token indices, Frames
	Targets []float32 // raw teacher features at the visible tokens [K, B, nv, ClipDim]
	L       int       // caption length (max_txt_l)
	IDs     []int32   // [B·L] tokenized captions ([CLS] + wordpieces + [PAD]…)
	Mask    []int32   // [B·L] attention mask
	Idx     []int64   // [B] sample ids: equal ids are VTC positives and never VTM negatives
}

// Losses are the four stage-2 losses and their sum ((((uta + vtc) + vtm) + mlm), pretrain.py:78).
type Losses struct{ UTA, VTC, VTM, MLM, Total float64 }

// Trace is what a Step computed on the way, for parity tests and inspection. Step fills it only
// when asked (downloads cost time).
type Trace struct {
	Temp             float64   // after the clamp
	VisionProj       []float64 // [B, P, E]
	TextProj         []float64 // [B, E]
	Sim              []float64 // [B, B] sim_v2t
	DPooled, DCLS    []float32 // [B, D], [B, H]: VTC's gradient into the encoders (pooled, text CLS)
	Neg              umt.Negatives
	ITMLogits        []float64 // [3B, 2]
	MLMInput, Labels []int32   // [B·L]
	TextEmbeds       []float32 // [B·L, H] text mode on the unmasked ids
	FusionVTM        []float32 // [3B·L, H]
	ITMEmbeds        []float32 // [3B, H]
	MLMText          []float32 // [B·L, H] text mode on the masked ids
	MLMHeadInput     []float32 // [B·L, H] fusion output
	MLMLogits        []float32 // [n, V] at the labelled positions, row-major order
}

// scratch owns a step's temporary buffers.
type scratch struct {
	be   kernels.Backend
	bufs []kernels.Buf
}

func (s *scratch) alloc(n int) kernels.Buf {
	b := s.be.Alloc(n)
	s.bufs = append(s.bufs, b)
	return b
}

func (s *scratch) up(v []float32) kernels.Buf {
	b := s.alloc(len(v))
	s.be.Upload(b, v)
	return b
}

func (s *scratch) index(v []int32) kernels.Buf {
	b := s.be.AllocIndex(len(v))
	s.bufs = append(s.bufs, b)
	s.be.UploadIndex(b, v)
	return b
}

func (s *scratch) free() {
	for _, b := range s.bufs {
		s.be.Free(b)
	}
	s.bufs = nil
}

// step is the state of one Step between its phases.
type step struct {
	m      *Model
	b      Batch
	d      umt.Draws
	tr     *Trace
	s      scratch
	B, nv  int
	ranks  int // the official run's GPUs: B / the draws' VTM group
	temp   float64
	tp     *bert.Pass  // text mode on the unmasked ids
	cls    kernels.Buf // [B, H] CLS rows of tp
	clsIdx kernels.Buf // [B] row s·L
	dText  kernels.Buf // [B·L, H] gradient of tp's output
	dVE    kernels.Buf // [B·nv, D] gradient of vision_embeds
	dPool  kernels.Buf // [B·P, D] gradient of pooled
	negs   umt.Negatives
	loss   Losses
	drop   uint64
	closer []func()
}

// Step runs one forward and backward of UMT's stage-2 loss uta + vtc + vtm + mlm on a batch
// with the given draws, adding every parameter's gradient to the three parts' gradient buffers
// (call ZeroGrads first for fresh ones). dropKey seeds drop path. With tr non-nil the
// intermediates are downloaded into it. The draws' VTM group sets the official run's ranks
// (B / group): besides VTM's negatives, MLM is the mean of the ranks' means and VTC's gradient
// reaches the projections and encoders at 1/ranks, as data-parallel training gives them.
func (m *Model) Step(b Batch, d umt.Draws, dropKey uint64, tr *Trace) (Losses, error) {
	st := &step{m: m, b: b, d: d, tr: tr, s: scratch{be: m.be}, B: b.Vision.B, nv: b.Vision.Visible(), drop: dropKey}
	defer func() {
		for i := len(st.closer) - 1; i >= 0; i-- {
			st.closer[i]()
		}
		st.s.free()
	}()
	if err := st.check(); err != nil {
		return Losses{}, err
	}
	for _, phase := range []func() error{st.clampTemp, st.vision, st.text, st.vtc, st.vtm, st.mlm, st.backward} {
		if err := phase(); err != nil {
			return Losses{}, err
		}
	}
	l := &st.loss
	l.Total = ((l.UTA + l.VTC) + l.VTM) + l.MLM
	return *l, nil
}

func (st *step) check() error {
	B, L := st.B, st.b.L
	if B <= 0 || L <= 0 || len(st.b.IDs) != B*L || len(st.b.Mask) != B*L || len(st.b.Idx) != B {
		return fmt.Errorf("multimodal: batch of %d clips needs %d ids and mask values of L=%d and %d idx (got %d, %d, %d)", B, B*L, L, B, len(st.b.IDs), len(st.b.Mask), len(st.b.Idx))
	}
	if st.b.Vision.KeepTemporal {
		return fmt.Errorf("multimodal: training pools over all visible tokens (keep_temporal is forced off under a mask)")
	}
	G, err := st.d.VTMGroup(B)
	if err != nil {
		return fmt.Errorf("multimodal: %w", err)
	}
	st.ranks = B / G
	return nil
}

func (st *step) downloadF(b kernels.Buf) ([]float32, error) {
	out := make([]float32, b.Len())
	return out, st.m.be.Download(out, b)
}

func (st *step) downloadD(b kernels.Buf) ([]float64, error) {
	v, err := st.downloadF(b)
	return widen(v), err
}

// clampTemp clamps temp in place to [TempMin, TempMax] (umt.py:226-229).
func (st *step) clampTemp() error {
	m := st.m
	t, err := st.downloadF(m.hw(m.hx.temp))
	if err != nil {
		return err
	}
	c := min(max(t[0], float32(TempMin)), float32(TempMax))
	if c != t[0] {
		m.be.Upload(m.hw(m.hx.temp), []float32{c})
	}
	st.temp = float64(c)
	if st.tr != nil {
		st.tr.Temp = st.temp
	}
	return nil
}

// vision runs the encoder on the masked clip and the UTA loss against the teacher features.
func (st *step) vision() error {
	m := st.m
	if err := m.Vision.Forward(st.b.Vision, true, st.drop); err != nil {
		return err
	}
	uta, err := m.Vision.UTALoss(st.b.Targets)
	st.loss.UTA = uta
	D := m.Cfg.Vision.Dim
	st.dVE, st.dPool = st.s.alloc(st.B*st.nv*D), st.s.alloc(st.B*D)
	return err
}

// text runs text mode on the captions and takes the CLS rows.
func (st *step) text() error {
	m, B, L := st.m, st.B, st.b.L
	H := m.Cfg.Text.Hidden
	tp, err := m.Text.Text(bert.Text{B: B, L: L, IDs: st.b.IDs, Mask: st.b.Mask})
	if err != nil {
		return err
	}
	st.tp = tp
	st.closer = append(st.closer, tp.Close)
	rows := make([]int32, B)
	for i := range rows {
		rows[i] = int32(i * L)
	}
	st.clsIdx, st.cls = st.s.index(rows), st.s.alloc(B*H)
	m.be.GatherRows(st.cls, tp.Out(), st.clsIdx, H)
	st.dText = st.s.alloc(B * L * H)
	if st.tr != nil {
		st.tr.TextEmbeds, err = st.downloadF(tp.Out())
	}
	return err
}

// vtc projects the pooled vision and text CLS vectors, computes the contrastive loss and
// back-propagates through the projections (into dPool, dText and temp).
func (st *step) vtc() error {
	m, B, c := st.m, st.B, st.m.Cfg
	D, H, E, hx := c.Vision.Dim, c.Text.Hidden, c.EmbedDim, m.hx
	vp, tp := st.s.alloc(B*E), st.s.alloc(B*E)
	models.Linear(m.be, vp, m.Vision.Pooled(), m.hw(hx.vpW), m.hw(hx.vpB), B, D, E)
	models.Linear(m.be, tp, st.cls, m.hw(hx.tpW), m.hw(hx.tpB), B, H, E)
	v, err := st.downloadD(vp)
	if err != nil {
		return err
	}
	t, err := st.downloadD(tp)
	if err != nil {
		return err
	}
	r, err := umt.VTCLoss(v, t, st.b.Idx, B, 1, E, st.temp)
	if err != nil {
		return err
	}
	st.loss.VTC = r.Loss
	if st.tr != nil {
		st.tr.VisionProj, st.tr.TextProj, st.tr.Sim = v, t, r.Sim
	}
	rankWeight(r, st.ranks)
	models.LinearGrad(m.be, st.dPool, st.s.up(narrow(r.DV)), m.Vision.Pooled(), m.hw(hx.vpW), m.hg(hx.vpW), m.hg(hx.vpB), B, D, E)
	dCLS := st.s.alloc(B * H)
	models.LinearGrad(m.be, dCLS, st.s.up(narrow(r.DT)), st.cls, m.hw(hx.tpW), m.hg(hx.tpW), m.hg(hx.tpB), B, H, E)
	m.be.ScatterAddRows(st.dText, dCLS, st.clsIdx, H)
	if st.tr != nil {
		if st.tr.DPooled, err = st.downloadF(st.dPool); err != nil {
			return err
		}
		if st.tr.DCLS, err = st.downloadF(dCLS); err != nil {
			return err
		}
	}
	m.be.Add(m.hg(hx.temp), m.hg(hx.temp), st.s.up([]float32{float32(r.DTemp)}))
	// VTM draws its negatives from the same similarity (recomputed under no_grad upstream),
	// each sample within its group (the official rank's own batch).
	neg, err := st.d.HardNegatives(r.Sim, st.b.Idx, B)
	if err != nil {
		return err
	}
	if st.tr != nil {
		st.tr.Neg = neg
	}
	st.negs = neg
	return nil
}

// vtm runs the fusion encoder on text [t; t; t_neg] × vision [v; v_neg; v], the itm_head on
// the CLS rows and the cross-entropy against [1]·B + [0]·2B, and back-propagates into dText,
// dVE and the fusion and itm_head parameters.
func (st *step) vtm() error {
	m, B, L, nv, c := st.m, st.B, st.b.L, st.nv, st.m.Cfg
	D, H, hx := c.Vision.Dim, c.Text.Hidden, st.m.hx
	tRows, vRows, cRows := make([]int32, 3*B), make([]int32, 3*B), make([]int32, 3*B)
	mask3 := make([]int32, 0, 3*B*L)
	for s := 0; s < 3*B; s++ {
		i := s % B
		tRows[s], vRows[s], cRows[s] = int32(i), int32(i), int32(s*L)
		switch s / B {
		case 1:
			vRows[s] = int32(st.negs.Vision[i])
		case 2:
			tRows[s] = int32(st.negs.Text[i])
		}
		mask3 = append(mask3, st.b.Mask[int(tRows[s])*L:int(tRows[s]+1)*L]...)
	}
	tIdx, vIdx, cIdx := st.s.index(tRows), st.s.index(vRows), st.s.index(cRows)
	text3, vis3 := st.s.alloc(3*B*L*H), st.s.alloc(3*B*nv*D)
	m.be.GatherRows(text3, st.tp.Out(), tIdx, L*H)
	m.be.GatherRows(vis3, m.Vision.VisionEmbeds(), vIdx, nv*D)
	fp, err := m.Text.Fusion(text3, mask3, 3*B, L, bert.Vision{N: nv, Tokens: vis3})
	if err != nil {
		return err
	}
	st.closer = append(st.closer, fp.Close)
	itmIn, logitsB := st.s.alloc(3*B*H), st.s.alloc(3*B*2)
	m.be.GatherRows(itmIn, fp.Out(), cIdx, H)
	models.Linear(m.be, logitsB, itmIn, m.hw(hx.itmW), m.hw(hx.itmB), 3*B, H, 2)
	logits, err := st.downloadD(logitsB)
	if err != nil {
		return err
	}
	loss, dLogits, err := umt.CrossEntropy(logits, umt.ITMLabels(B), 2)
	if err != nil {
		return err
	}
	st.loss.VTM = loss
	if st.tr != nil {
		st.tr.ITMLogits = logits
		if st.tr.FusionVTM, err = st.downloadF(fp.Out()); err != nil {
			return err
		}
		if st.tr.ITMEmbeds, err = st.downloadF(itmIn); err != nil {
			return err
		}
	}
	dItm, dF := st.s.alloc(3*B*H), st.s.alloc(3*B*L*H)
	models.LinearGrad(m.be, dItm, st.s.up(narrow(dLogits)), itmIn, m.hw(hx.itmW), m.hg(hx.itmW), m.hg(hx.itmB), 3*B, H, 2)
	m.be.ScatterRows(dF, dItm, cIdx, H)
	if err := fp.Backward(dF); err != nil {
		return err
	}
	m.be.ScatterAddRows(st.dText, fp.DIn(), tIdx, L*H)
	m.be.ScatterAddRows(st.dVE, fp.DVision(), vIdx, nv*D)
	return nil
}

// mlm masks the captions, runs text mode on them, fusion with vision_embeds and the MLM head,
// and back-propagates into the text encoder and dVE.
func (st *step) mlm() error {
	m, B, L := st.m, st.B, st.b.L
	input, labels, err := umt.MaskMLM(st.b.IDs, st.d.MLM, m.Specials)
	if err != nil {
		return err
	}
	tm, err := m.Text.Text(bert.Text{B: B, L: L, IDs: input, Mask: st.b.Mask})
	if err != nil {
		return err
	}
	st.closer = append(st.closer, tm.Close)
	fm, err := m.Text.Fusion(tm.Out(), st.b.Mask, B, L, bert.Vision{N: st.nv, Tokens: m.Vision.VisionEmbeds()})
	if err != nil {
		return err
	}
	st.closer = append(st.closer, fm.Close)
	// Each official GPU means over its own masked tokens and DDP averages the GPUs
	// (xbert's BertForMaskedLM CrossEntropyLoss, then the gradient all-reduce).
	mp, err := m.Text.MLMGroups(fm.Out(), B, L, labels, st.ranks)
	if err != nil {
		return err
	}
	st.closer = append(st.closer, mp.Close)
	st.loss.MLM = mp.Loss()
	if tr := st.tr; tr != nil {
		tr.MLMInput, tr.Labels = input, labels
		if tr.MLMText, err = st.downloadF(tm.Out()); err != nil {
			return err
		}
		if tr.MLMHeadInput, err = st.downloadF(fm.Out()); err != nil {
			return err
		}
		if tr.MLMLogits, err = mp.Logits(); err != nil {
			return err
		}
	}
	if err := mp.Backward(); err != nil {
		return err
	}
	if err := fm.Backward(mp.DHidden()); err != nil {
		return err
	}
	m.be.Add(st.dVE, st.dVE, fm.DVision())
	return tm.Backward(fm.DIn())
}

// backward finishes the text encoder (VTC and VTM gradients of the unmasked captions) and the
// vision encoder (UTA, pooled and vision_embeds gradients).
func (st *step) backward() error {
	if err := st.tp.Backward(st.dText); err != nil {
		return err
	}
	if err := st.m.Vision.BackwardWith(st.dVE, st.dPool); err != nil {
		return err
	}
	for _, l := range []float64{st.loss.UTA, st.loss.VTC, st.loss.VTM, st.loss.MLM} {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("multimodal: non-finite loss %+v", st.loss)
		}
	}
	return st.m.be.Sync()
}

// rankWeight scales VTC's projection gradients to what data-parallel training over `ranks` GPUs
// gives the encoders: the official all-gather (multi_modality/models/utils.py AllGather) hands
// each GPU back only its own clips' slice of the gathered gradient, every GPU computes the same
// global loss, and DDP averages the GPUs' gradients, so the projections and encoders get
// 1/ranks of it. temp is used whole on every GPU, so its gradient stays in full.
func rankWeight(r umt.VTC, ranks int) {
	if ranks == 1 {
		return
	}
	for _, g := range [][]float64{r.DV, r.DT} {
		for i := range g {
			g[i] /= float64(ranks)
		}
	}
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func narrow(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
