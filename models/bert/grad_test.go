package bert

import (
	"math"
	"slices"
	"strings"
	"testing"

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

// TestGradientsMatchReference back-propagates the text encoder's three losses of a reference
// batch, with the vision side fixed at its stored values, and compares the gradient of every
// text_encoder.* parameter with grad.* (the gradient of uta+vtc+vtm+mlm, of which only these
// three reach the text encoder):
//   - VTC: text_proj of the text CLS against the stored proj.vision_proj, temp and idx;
//   - VTM: itm_head on the fusion CLS of text [t; t; t_neg] × vision [v; v_neg; v] from the
//     stored draws, cross-entropy against [1]·B + [0]·2B, back through fusion into t;
//   - MLM: text mode on the masked ids, fusion with the vision tokens, head and loss.
//
// Tolerances are the README's: 1e-3·max|ref| per tensor, and 1e-6 absolute for the key biases,
// whose gradient is analytically zero (float32 noise in the reference). The losses must match
// loss.vtc, loss.vtm and loss.mlm within 1e-5 relative.
func TestGradientsMatchReference(t *testing.T) {
	r := loadRef(t)
	c := r.cfg
	H, E := c.Hidden, r.s.EmbedDim
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
	tpW, tpB := head("text_proj.weight", E, H), head("text_proj.bias", E)
	itmW, itmB := head("itm_head.weight", 2, H), head("itm_head.bias", 2)
	for _, b := range r.batches {
		t.Run(b.kind, func(t *testing.T) {
			m, be := newModel(t, c, r.flat)
			m.ZeroGrads()
			B, L, io := b.B, b.L, b.io
			mask := i32(shaped(t, io, "text.attention_mask", B, L).I64)
			loss := func(name string, got float64) {
				want := float64(shaped(t, io, name, 1).F32[0])
				if d := math.Abs(got-want) / math.Abs(want); d > tolLoss {
					t.Errorf("%s %.8g, reference %.8g (rel %.3g)", name, got, want, d)
				} else {
					t.Logf("%s rel %.3g", name, d)
				}
			}

			tp, err := m.Text(Text{B: B, L: L, IDs: i32(shaped(t, io, "text.input_ids", B, L).I64), Mask: mask})
			if err != nil {
				t.Fatal(err)
			}
			defer tp.Close()
			text := download(t, be, tp.Out())
			dText := make([]float64, B*L*H)

			// VTC
			vp := get(t, io, "proj.vision_proj")
			if len(vp.Shape) != 3 || vp.Shape[0] != B || vp.Shape[2] != E {
				t.Fatalf("proj.vision_proj has shape %v, want [%d, T, %d]", vp.Shape, B, E)
			}
			tproj := hostLinear(clsRows(text, B, L, H), tpW, tpB, B, H, E)
			checkRel(t, "proj.text_proj", f32s(tproj), shaped(t, io, "proj.text_proj", B, E).F32, tolAct)
			vtc, err := umt.VTCLoss(f64(vp.F32), tproj, shaped(t, io, "idx", B).I64, B, vp.Shape[1], E, float64(shaped(t, io, "temp", 1).F32[0]))
			if err != nil {
				t.Fatal(err)
			}
			loss("loss.vtc", vtc.Loss)
			dCLS := hostLinearDX(vtc.DT, tpW, B, H, E)
			for s := 0; s < B; s++ {
				for h := 0; h < H; h++ {
					dText[s*L*H+h] += dCLS[s*H+h]
				}
			}

			// VTM
			x, mask3, vis3, N := vtmInputs(t, b, c, text)
			visBuf := upload(t, be, vis3)
			fp, err := m.Fusion(upload(t, be, x), mask3, 3*B, L, Vision{N: N, Tokens: visBuf})
			if err != nil {
				t.Fatal(err)
			}
			defer fp.Close()
			logits := hostLinear(clsRows(download(t, be, fp.Out()), 3*B, L, H), itmW, itmB, 3*B, H, 2)
			checkRel(t, "vtm.itm_logits", f32s(logits), shaped(t, io, "vtm.itm_logits", 3*B, 2).F32, tolAct)
			vtm, dLogits, err := umt.CrossEntropy(logits, umt.ITMLabels(B), 2)
			if err != nil {
				t.Fatal(err)
			}
			loss("loss.vtm", vtm)
			dF := make([]float64, 3*B*L*H)
			dItm := hostLinearDX(dLogits, itmW, 3*B, H, 2)
			for s := 0; s < 3*B; s++ {
				copy(dF[s*L*H:s*L*H+H], dItm[s*H:(s+1)*H])
			}
			if err := fp.Backward(upload(t, be, f32s(dF))); err != nil {
				t.Fatal(err)
			}
			dIn := download(t, be, fp.DIn())
			tneg := get(t, io, "draw.vtm.txt_neg_indices").I64
			for s := 0; s < 3*B; s++ {
				dst := s % B // blocks 0 and 1 are t itself
				if s >= 2*B {
					dst = int(tneg[s-2*B])
				}
				for i := 0; i < L*H; i++ {
					dText[dst*L*H+i] += float64(dIn[s*L*H+i])
				}
			}
			if err := tp.Backward(upload(t, be, f32s(dText))); err != nil {
				t.Fatal(err)
			}

			// MLM
			tm, err := m.Text(Text{B: B, L: L, IDs: i32(get(t, io, "mlm.input_ids_masked").I64), Mask: mask})
			if err != nil {
				t.Fatal(err)
			}
			defer tm.Close()
			ve := get(t, io, "student.vision_embeds")
			fm, err := m.Fusion(tm.Out(), mask, B, L, Vision{N: ve.Shape[1], Tokens: upload(t, be, ve.F32)})
			if err != nil {
				t.Fatal(err)
			}
			defer fm.Close()
			mp, err := m.MLM(fm.Out(), B, L, i32(get(t, io, "mlm.labels").I64))
			if err != nil {
				t.Fatal(err)
			}
			defer mp.Close()
			loss("loss.mlm", mp.Loss())
			for _, step := range []func() error{mp.Backward, func() error { return fm.Backward(mp.DHidden()) }, func() error { return tm.Backward(fm.DIn()) }} {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			compareGrads(t, m, io)
		})
	}
}

func compareGrads(t *testing.T, m *Model, io map[string]weightstest.Tensor) {
	t.Helper()
	grads, err := m.DownloadGrads()
	if err != nil {
		t.Fatal(err)
	}
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
