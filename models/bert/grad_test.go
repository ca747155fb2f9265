package bert

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/umt"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// hostLinear is y = x Wᵀ + b in float64 for the small stage-2 heads (text_proj, itm_head), and
// dx = dy W for their backward.
func hostLinear(x []float64, w, b []float32, rows, in, out int) []float64 {
	y := make([]float64, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			s := float64(b[o])
			for i := 0; i < in; i++ {
				s += x[r*in+i] * float64(w[o*in+i])
			}
			y[r*out+o] = s
		}
	}
	return y
}

func hostLinearDX(dy []float64, w []float32, rows, in, out int) []float64 {
	dx := make([]float64, rows*in)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			for i := 0; i < in; i++ {
				dx[r*in+i] += dy[r*out+o] * float64(w[o*in+i])
			}
		}
	}
	return dx
}

// clsRows returns row 0 of each of the rows/L sequences of x [rows, H] in float64.
func clsRows(x []float32, seqs, L, H int) []float64 {
	out := make([]float64, seqs*H)
	for s := 0; s < seqs; s++ {
		for h := 0; h < H; h++ {
			out[s*H+h] = float64(x[s*L*H+h])
		}
	}
	return out
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// sideIn is one batch of the text side of a stage-2 step, everything the text encoder's
// three losses need: captions and their MLM-masked copy, the fixed vision side (visible tokens,
// vision_proj), the stored draws and the heads.
type sideIn struct {
	B, L, N, T, E          int
	ids, mask, mids, label []int32
	vis, vproj             []float32 // [B, N, C], [B, T, E]
	vneg, tneg, idx        []int64
	temp                   float64
	tpW, tpB, itmW, itmB   []float32
}

// sideOut is what runTextSide computes: the activations the references store, the three
// losses and the gradient of their sum for every parameter.
type sideOut struct {
	textEmbeds, mlmText, headInput, vtmFusion []float32
	textProj, itmLogits                       []float64
	mlmLogits                                 []float32 // [labelled, V]
	lossVTC, lossVTM, lossMLM                 float64
	masked                                    int
	grads                                     []float32
}

// runTextSide back-propagates the text encoder's share of a stage-2 step, with the vision side
// fixed:
//   - VTC: text_proj of the text CLS against vproj, temp and idx;
//   - VTM: itm_head on the fusion CLS of text [t; t; t_neg] × vision [v; v_neg; v] from the
//     draws, cross-entropy against [1]·B + [0]·2B, back through fusion into t;
//   - MLM: text mode on the masked ids, fusion with the vision tokens, head and loss.
func runTextSide(t *testing.T, m *Model, be *cpu.Backend, in sideIn) sideOut {
	t.Helper()
	c := m.Cfg
	B, L, H, E := in.B, in.L, c.Hidden, in.E
	var o sideOut
	m.ZeroGrads()
	tp, err := m.Text(Text{B: B, L: L, IDs: in.ids, Mask: in.mask})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	o.textEmbeds = download(t, be, tp.Out())
	dText := make([]float64, B*L*H)

	// VTC
	o.textProj = hostLinear(clsRows(o.textEmbeds, B, L, H), in.tpW, in.tpB, B, H, E)
	vtc, err := umt.VTCLoss(f64(in.vproj), o.textProj, in.idx, B, in.T, E, in.temp)
	if err != nil {
		t.Fatal(err)
	}
	o.lossVTC = vtc.Loss
	dCLS := hostLinearDX(vtc.DT, in.tpW, B, H, E)
	for s := 0; s < B; s++ {
		for h := 0; h < H; h++ {
			dText[s*L*H+h] += dCLS[s*H+h]
		}
	}

	// VTM
	x, mask3, vis3 := vtmBatch(in, H, c.EncoderWidth, o.textEmbeds)
	fp, err := m.Fusion(upload(t, be, x), mask3, 3*B, L, Vision{N: in.N, Tokens: upload(t, be, vis3)})
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	o.vtmFusion = download(t, be, fp.Out())
	o.itmLogits = hostLinear(clsRows(o.vtmFusion, 3*B, L, H), in.itmW, in.itmB, 3*B, H, 2)
	vtm, dLogits, err := umt.CrossEntropy(o.itmLogits, umt.ITMLabels(B), 2)
	if err != nil {
		t.Fatal(err)
	}
	o.lossVTM = vtm
	dF := make([]float64, 3*B*L*H)
	dItm := hostLinearDX(dLogits, in.itmW, 3*B, H, 2)
	for s := 0; s < 3*B; s++ {
		copy(dF[s*L*H:s*L*H+H], dItm[s*H:(s+1)*H])
	}
	if err := fp.Backward(upload(t, be, f32s(dF))); err != nil {
		t.Fatal(err)
	}
	dIn := download(t, be, fp.DIn())
	for s := 0; s < 3*B; s++ {
		dst := s % B // blocks 0 and 1 are t itself
		if s >= 2*B {
			dst = int(in.tneg[s-2*B])
		}
		for i := 0; i < L*H; i++ {
			dText[dst*L*H+i] += float64(dIn[s*L*H+i])
		}
	}
	if err := tp.Backward(upload(t, be, f32s(dText))); err != nil {
		t.Fatal(err)
	}

	// MLM
	tm, err := m.Text(Text{B: B, L: L, IDs: in.mids, Mask: in.mask})
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	o.mlmText = download(t, be, tm.Out())
	fm, err := m.Fusion(tm.Out(), in.mask, B, L, Vision{N: in.N, Tokens: upload(t, be, in.vis)})
	if err != nil {
		t.Fatal(err)
	}
	defer fm.Close()
	o.headInput = download(t, be, fm.Out())
	mp, err := m.MLM(fm.Out(), B, L, in.label)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	o.lossMLM, o.masked = mp.Loss(), mp.Count()
	if o.mlmLogits, err = mp.Logits(); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{mp.Backward, func() error { return fm.Backward(mp.DHidden()) }, func() error { return tm.Backward(fm.DIn()) }} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if o.grads, err = m.DownloadGrads(); err != nil {
		t.Fatal(err)
	}
	return o
}

// vtmBatch builds the VTM fusion batch: text [t; t; t_neg] with masks [m; m; m_neg] against
// vision [v; v_neg; v], where v_neg[i] = v[vneg[i]] (the negative video of text i) and
// t_neg[i] = t[tneg[i]] (criterions.py:133-141).
func vtmBatch(in sideIn, H, C int, text []float32) (x []float32, mask []int32, vis []float32) {
	B, L, N := in.B, in.L, in.N
	for part := 0; part < 3; part++ {
		for i := 0; i < B; i++ {
			ti, vi := i, i
			switch part {
			case 1:
				vi = int(in.vneg[i])
			case 2:
				ti = int(in.tneg[i])
			}
			x = append(x, text[ti*L*H:(ti+1)*L*H]...)
			mask = append(mask, in.mask[ti*L:(ti+1)*L]...)
			vis = append(vis, in.vis[vi*N*C:(vi+1)*N*C]...)
		}
	}
	return x, mask, vis
}

// refSideIn reads a reference batch's text-side inputs, checking every shape against the set's
// config.
func refSideIn(t *testing.T, r refSet, b refBatch) sideIn {
	t.Helper()
	c, io := r.cfg, b.io
	H, E, B, L := c.Hidden, r.s.EmbedDim, b.B, b.L
	head := func(name string, dims ...int) []float32 {
		x, ok := r.all[name]
		if !ok || !slices.Equal(x.Shape, dims) {
			t.Fatalf("reference weights: %s missing or not of shape %v", name, dims)
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ve, vp := get(t, io, "student.vision_embeds"), get(t, io, "proj.vision_proj")
	if len(ve.Shape) != 3 || ve.Shape[0] != B || ve.Shape[2] != c.EncoderWidth {
		t.Fatalf("student.vision_embeds has shape %v, want [%d, N, %d]", ve.Shape, B, c.EncoderWidth)
	}
	if len(vp.Shape) != 3 || vp.Shape[0] != B || vp.Shape[2] != E {
		t.Fatalf("proj.vision_proj has shape %v, want [%d, T, %d]", vp.Shape, B, E)
	}
	in := sideIn{B: B, L: L, N: ve.Shape[1], T: vp.Shape[1], E: E,
		ids: i32(shaped(t, io, "text.input_ids", B, L).I64), mask: i32(shaped(t, io, "text.attention_mask", B, L).I64),
		mids: i32(shaped(t, io, "mlm.input_ids_masked", B, L).I64), label: i32(shaped(t, io, "mlm.labels", B, L).I64),
		vis: ve.F32, vproj: vp.F32, vneg: shaped(t, io, "draw.vtm.vision_neg_indices", B).I64,
		tneg: shaped(t, io, "draw.vtm.txt_neg_indices", B).I64, idx: shaped(t, io, "idx", B).I64,
		temp: float64(shaped(t, io, "temp", 1).F32[0]),
		tpW:  head("text_proj.weight", E, H), tpB: head("text_proj.bias", E), itmW: head("itm_head.weight", 2, H), itmB: head("itm_head.bias", 2)}
	for i := 0; i < B; i++ {
		if in.vneg[i] < 0 || int(in.vneg[i]) >= B || in.tneg[i] < 0 || int(in.tneg[i]) >= B {
			t.Fatalf("VTM negative indices %v / %v leave [0, %d)", in.vneg, in.tneg, B)
		}
	}
	return in
}

// TestGradientsMatchReference runs the text side of each reference batch (runTextSide) and
// compares the gradient of every text_encoder.* parameter with grad.* (the gradient of
// uta+vtc+vtm+mlm, of which only vtc, vtm and mlm reach the text encoder), the projections and
// itm logits with proj.text_proj and vtm.itm_logits, and the losses with loss.vtc, loss.vtm and
// loss.mlm. Tolerances are the README's: 1e-3·max|ref| per gradient tensor, 1e-6 absolute for
// the key biases (analytically zero, float32 noise in the reference), 1e-4·max|ref| for
// activations, 1e-5 relative for losses.
func TestGradientsMatchReference(t *testing.T) {
	r := loadRef(t)
	for _, b := range r.batches {
		t.Run(b.kind, func(t *testing.T) {
			m, be := newModel(t, r.cfg, r.flat)
			in := refSideIn(t, r, b)
			o := runTextSide(t, m, be, in)
			checkRel(t, "proj.text_proj", f32s(o.textProj), shaped(t, b.io, "proj.text_proj", b.B, in.E).F32, tolAct)
			checkRel(t, "vtm.itm_logits", f32s(o.itmLogits), shaped(t, b.io, "vtm.itm_logits", 3*b.B, 2).F32, tolAct)
			for _, l := range []struct {
				name string
				got  float64
			}{{"loss.vtc", o.lossVTC}, {"loss.vtm", o.lossVTM}, {"loss.mlm", o.lossMLM}} {
				want := float64(shaped(t, b.io, l.name, 1).F32[0])
				if d := math.Abs(l.got-want) / math.Abs(want); d > tolLoss {
					t.Errorf("%s %.8g, reference %.8g (rel %.3g > %.0e)", l.name, l.got, want, d, tolLoss)
				} else {
					t.Logf("%s rel %.3g", l.name, d)
				}
			}
			compareGrads(t, m, o.grads, b.io)
		})
	}
}

func compareGrads(t *testing.T, m *Model, grads []float32, io map[string]weightstest.Tensor) {
	t.Helper()
	worst, worstName := 0.0, ""
	for _, p := range m.Params() {
		name := "grad." + UMTPrefix + p.Name
		want := shaped(t, io, name, p.Shape...).F32
		got := grads[p.Off : p.Off+p.Len]
		if strings.HasSuffix(p.Name, ".key.bias") {
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > tolKeyBias {
					t.Errorf("%s[%d]: %.3g vs reference %.3g (analytically 0; |d| %.3g > %g)", name, i, got[i], want[i], d, tolKeyBias)
					break
				}
			}
			continue
		}
		e := relErr(got, want)
		if e > tolGrad {
			t.Errorf("%s: max|d|/max|ref| = %.3g > %.0e", name, e, tolGrad)
		}
		if e > worst {
			worst, worstName = e, name
		}
	}
	t.Logf("%d parameter gradients; worst max|d|/max|ref| = %.3g (%s)", len(m.Params()), worst, worstName)
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
