package multimodal

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/umt"
	"github.com/umt-dev/umt/models/vit"
)

// refBatch builds a Batch and its umt.Draws from a reference batch: the clip's visible patches
// under the stored semantic mask, the teacher targets gathered from teacher.features_full at
// the visible tokens (checked against teacher.targets), the captions and idx, and the
// replayed MLM and VTM draws.
func refBatch(t *testing.T, c Config, io refIO, media map[string]int) (Batch, umt.Draws) {
	t.Helper()
	vc := c.Vision
	px := io.get(t, "pixel_values")
	if len(px.Shape) != 5 || px.Shape[2] != 3 || px.Shape[3] != vc.ImgSize || px.Shape[4] != vc.ImgSize {
		t.Fatalf("pixel_values has shape %v, want [B, T, 3, %d, %d]", px.Shape, vc.ImgSize, vc.ImgSize)
	}
	B, T, H := px.Shape[0], px.Shape[1], vc.ImgSize
	if T != media["T"] || B != media["B"] {
		t.Fatalf("pixel_values [B=%d, T=%d] but the manifest says B=%d, T=%d", B, T, media["B"], media["T"])
	}
	N := T / vc.Tubelet * vc.HW()
	mask := io.get(t, "mask.bool_masked_pos", B, N).U8
	var vis []int32
	var patches []float32
	nv := -1
	for b := 0; b < B; b++ {
		var toks []int32
		for i, m := range mask[b*N : (b+1)*N] {
			if m == 0 {
				toks = append(toks, int32(i))
			}
		}
		if nv >= 0 && len(toks) != nv {
			t.Fatalf("clip %d has %d visible tokens, clip 0 %d", b, len(toks), nv)
		}
		nv = len(toks)
		// [T, 3, H, W] → [3, T, H, W] (encode_vision's permute)
		clip := make([]float32, 3*T*H*H)
		for f := 0; f < T; f++ {
			for ch := 0; ch < 3; ch++ {
				copy(clip[(ch*T+f)*H*H:(ch*T+f+1)*H*H], px.F32[((b*T+f)*3+ch)*H*H:((b*T+f)*3+ch+1)*H*H])
			}
		}
		p, err := vit.PatchifyFrames(vc, clip, T, toks)
		if err != nil {
			t.Fatal(err)
		}
		patches = append(patches, p...)
		vis = append(vis, toks...)
	}
	K, C := vc.ReturnLayers, vc.ClipDim
	full := io.get(t, "teacher.features_full", K, B, N, C).F32
	targets := make([]float32, 0, K*B*nv*C)
	for k := 0; k < K; k++ {
		for i, tok := range vis {
			b := i / nv
			row := ((k*B+b)*N + int(tok)) * C
			targets = append(targets, full[row:row+C]...)
		}
	}
	if want := io.get(t, "teacher.targets", K, B, nv, C).F32; !slices.Equal(targets, want) {
		t.Fatalf("teacher.features_full gathered at the visible tokens differs from teacher.targets")
	}
	ids := io.get(t, "text.input_ids")
	L := ids.Shape[1]
	bt := Batch{
		Vision:  vit.Batch{B: B, Patches: patches, Tokens: vis, Frames: T},
		Targets: targets, L: L,
		IDs: toI32(ids.I64), Mask: toI32(io.get(t, "text.attention_mask", B, L).I64),
		Idx: io.get(t, "idx", B).I64,
	}
	bits := func(name string) []bool {
		u := io.get(t, name, B, L).U8
		out := make([]bool, len(u))
		for i, x := range u {
			out[i] = x != 0
		}
		return out
	}
	d := umt.Draws{
		MLM: umt.MLMDraws{Masked: bits("draw.mlm.bernoulli_masked"), Replace: bits("draw.mlm.bernoulli_replace"),
			Random: bits("draw.mlm.bernoulli_random"), RandomWords: toI32(io.get(t, "draw.mlm.random_words", B, L).I64)},
		ExpT2V: widen(io.get(t, "draw.vtm.exp_noise_t2v", B, B).F32),
		ExpV2T: widen(io.get(t, "draw.vtm.exp_noise_v2t", B, B).F32),
	}
	return bt, d
}

func toI32(v []int64) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// TestStage2StepMatchesReference runs one stage-2 forward and backward on every reference
// batch (video, and image where the set has it) from the stored weights, inputs and replayed
// draws, and checks every stored intermediate, the four losses and the total, the gradient of
// every parameter, and which parameters get none, within the reference README's tolerances.
func TestStage2StepMatchesReference(t *testing.T) {
	r := loadRefModel(t)
	for _, kind := range r.batches {
		t.Run(kind, func(t *testing.T) {
			io := readIO(t, r.dir, kind)
			med := r.media[kind]
			bt, d := refBatch(t, r.cfg, io, map[string]int{"B": med.B, "T": med.T})
			m := newRefModel(t, r)
			m.ZeroGrads()
			var tr Trace
			loss, err := m.Step(bt, d, 0, &tr)
			if err != nil {
				t.Fatal(err)
			}
			checkTrace(t, m, io, bt, &tr)
			checkLosses(t, io, loss)
			checkGrads(t, m, r, io)
		})
	}
}

func checkTrace(t *testing.T, m *Model, io refIO, bt Batch, tr *Trace) {
	c := m.Cfg
	B, L, nv := bt.Vision.B, bt.L, bt.Vision.Visible()
	D, H, E, K, C := c.Vision.Dim, c.Text.Hidden, c.EmbedDim, c.Vision.ReturnLayers, c.Vision.ClipDim
	useImage := int64(0)
	if bt.Vision.Frames == 1 {
		useImage = 1
	}
	checkInts(t, "student.use_image", []int64{useImage}, io.get(t, "student.use_image", 1).I64)
	checkInts(t, "student.keep_temporal", []int64{0}, io.get(t, "student.keep_temporal", 1).I64)
	checkAct(t, "temp", []float64{tr.Temp}, io.get(t, "temp", 1).F32)
	xclip, err := m.Vision.XClip()
	if err != nil {
		t.Fatal(err)
	}
	checkAct(t, "student.x_clip", widen(xclip), io.get(t, "student.x_clip", K, B, nv, C).F32)
	down := func(b kernels.Buf) []float64 {
		v, err := download(m, b)
		if err != nil {
			t.Fatal(err)
		}
		return widen(v)
	}
	checkAct(t, "student.vision_embeds", down(m.Vision.VisionEmbeds()), io.get(t, "student.vision_embeds", B, nv, D).F32)
	checkAct(t, "student.pooled_vision", down(m.Vision.Pooled()), io.get(t, "student.pooled_vision", B, 1, D).F32)
	checkAct(t, "text.text_embeds", widen(tr.TextEmbeds), io.get(t, "text.text_embeds", B, L, H).F32)
	cls := make([]float64, 0, B*H)
	for b := 0; b < B; b++ {
		cls = append(cls, widen(tr.TextEmbeds[b*L*H:b*L*H+H])...)
	}
	checkAct(t, "text.pooled_text", cls, io.get(t, "text.pooled_text", B, H).F32)
	checkAct(t, "proj.vision_proj", tr.VisionProj, io.get(t, "proj.vision_proj", B, 1, E).F32)
	checkAct(t, "proj.text_proj", tr.TextProj, io.get(t, "proj.text_proj", B, E).F32)
	checkAct(t, "vtc.sim_v2t", tr.Sim, io.get(t, "vtc.sim_v2t", B, B).F32)
	checkAct(t, "vtm.sim_v2t_nograd", tr.Sim, io.get(t, "vtm.sim_v2t_nograd", B, B).F32)
	checkAct(t, "draw.vtm.weights_t2v", tr.Neg.WeightsT2V, io.get(t, "draw.vtm.weights_t2v", B, B).F32)
	checkAct(t, "draw.vtm.weights_v2t", tr.Neg.WeightsV2T, io.get(t, "draw.vtm.weights_v2t", B, B).F32)
	checkInts(t, "draw.vtm.vision_neg_indices", tr.Neg.Vision, io.get(t, "draw.vtm.vision_neg_indices", B).I64)
	checkInts(t, "draw.vtm.txt_neg_indices", tr.Neg.Text, io.get(t, "draw.vtm.txt_neg_indices", B).I64)
	checkAct(t, "bert.vtm_fusion.last_hidden_state", widen(tr.FusionVTM), io.get(t, "bert.vtm_fusion.last_hidden_state", 3*B, L, H).F32)
	checkAct(t, "vtm.itm_embeds", widen(tr.ITMEmbeds), io.get(t, "vtm.itm_embeds", 3*B, H).F32)
	checkAct(t, "vtm.itm_logits", tr.ITMLogits, io.get(t, "vtm.itm_logits", 3*B, 2).F32)
	checkInts(t, "vtm.labels", umt.ITMLabels(B), io.get(t, "vtm.labels", 3*B).I64)
	checkInts(t, "mlm.input_ids_masked", tr.MLMInput, io.get(t, "mlm.input_ids_masked", B, L).I64)
	checkInts(t, "mlm.labels", tr.Labels, io.get(t, "mlm.labels", B, L).I64)
	var pos, lab []int64
	for i, y := range tr.Labels {
		if y != umt.IgnoreIndex {
			pos, lab = append(pos, int64(i/L), int64(i%L)), append(lab, int64(y))
		}
	}
	checkInts(t, "mlm.masked_positions", pos, io.get(t, "mlm.masked_positions").I64)
	checkInts(t, "mlm.labels_at_masked", lab, io.get(t, "mlm.labels_at_masked").I64)
	checkAct(t, "bert.mlm_text.last_hidden_state", widen(tr.MLMText), io.get(t, "bert.mlm_text.last_hidden_state", B, L, H).F32)
	checkAct(t, "mlm.head_input", widen(tr.MLMHeadInput), io.get(t, "mlm.head_input", B, L, H).F32)
	want := io.get(t, "mlm.logits_at_masked")
	V := c.Text.Vocab
	if n := want.Shape[0]; len(want.Shape) != 2 || want.Shape[1] != V || n > len(lab) || len(tr.MLMLogits) < n*V {
		t.Fatalf("mlm.logits_at_masked has shape %v for %d masked positions of vocabulary %d", want.Shape, len(lab), V)
	}
	checkAct(t, "mlm.logits_at_masked", widen(tr.MLMLogits[:want.Shape[0]*V]), want.F32)
}

func download(m *Model, b kernels.Buf) ([]float32, error) {
	out := make([]float32, b.Len())
	return out, m.be.Download(out, b)
}

func checkLosses(t *testing.T, io refIO, l Losses) {
	for _, c := range []struct {
		name string
		got  float64
	}{{"loss.uta", l.UTA}, {"loss.vtc", l.VTC}, {"loss.vtm", l.VTM}, {"loss.mlm", l.MLM}, {"loss.total", l.Total}} {
		want := float64(io.get(t, c.name, 1).F32[0])
		if d := math.Abs(c.got-want) / math.Abs(want); d > tolLoss {
			t.Errorf("%s %.8g, reference %.8g (rel %.3g > %g)", c.name, c.got, want, d, tolLoss)
		} else {
			t.Logf("%s %.8g rel %.3g", c.name, c.got, d)
		}
		if js, ok := io.side.Losses[c.name]; ok && math.Abs(js-want) > 1e-6*math.Abs(want) {
			t.Errorf("%s: the side file says %v, the tensor %v", c.name, js, want)
		}
	}
}

// checkGrads compares every parameter's gradient with grad.<official name> and checks that
// the parameters the reference lists without a gradient are exactly those of the weights
// file this model does not have (the CLIP teacher, whose features are inputs here).
func checkGrads(t *testing.T, m *Model, r refModel, io refIO) {
	vg, err := m.Vision.DownloadGrads()
	if err != nil {
		t.Fatal(err)
	}
	tg, err := m.Text.DownloadGrads()
	if err != nil {
		t.Fatal(err)
	}
	hg, err := download(m, m.HeadGrads())
	if err != nil {
		t.Fatal(err)
	}
	type pg struct {
		name string
		g    []float32
	}
	var all []pg
	for _, p := range m.Vision.Params() {
		all = append(all, pg{VisionPrefix + p.Name, vg[p.Off : p.Off+p.Len]})
	}
	for _, p := range m.Text.Params() {
		all = append(all, pg{bert.UMTPrefix + p.Name, tg[p.Off : p.Off+p.Len]})
	}
	for _, p := range m.HeadParamList() {
		all = append(all, pg{p.Name, hg[p.Off : p.Off+p.Len]})
	}
	ours := map[string]bool{}
	worst, worstName := 0.0, ""
	for _, p := range all {
		ours[p.name] = true
		ref := io.get(t, "grad."+p.name)
		if len(ref.F32) != len(p.g) {
			t.Errorf("grad.%s has %d values, ours %d", p.name, len(ref.F32), len(p.g))
			continue
		}
		if strings.HasSuffix(p.name, ".key.bias") {
			for i := range p.g {
				if d := math.Abs(float64(p.g[i] - ref.F32[i])); d > tolKeyBias {
					t.Errorf("grad.%s[%d]: %.3g vs %.3g (analytically 0; |d| %.3g > %g)", p.name, i, p.g[i], ref.F32[i], d, tolKeyBias)
					break
				}
			}
			continue
		}
		e := relErr(widen(p.g), ref.F32)
		if e > tolGrad {
			t.Errorf("grad.%s: max|d|/max|ref| = %.3g > %g", p.name, e, tolGrad)
		}
		if e > worst {
			worst, worstName = e, p.name
		}
	}
	t.Logf("%d parameter gradients; worst max|d|/max|ref| = %.3g (%s)", len(all), worst, worstName)
	var refGrads, noGrad []string
	for name := range io.io {
		if p, ok := strings.CutPrefix(name, "grad."); ok {
			refGrads = append(refGrads, p)
			if !ours[p] {
				t.Errorf("the reference has grad.%s; the model has no such parameter", p)
			}
		}
	}
	if len(refGrads) != len(all) || len(all) != io.side.NParamsWithGrad {
		t.Errorf("%d parameters with a gradient here, %d grad.* tensors and n_params_with_grad %d in the reference", len(all), len(refGrads), io.side.NParamsWithGrad)
	}
	for name, x := range r.sd {
		if strings.HasPrefix(name, "const.") || name == PositionIDs || ours[name] || x.DType == "I64" {
			continue
		}
		noGrad = append(noGrad, name)
	}
	slices.Sort(noGrad)
	want := slices.Sorted(slices.Values(io.side.ParamsWithoutGrad))
	if !slices.Equal(noGrad, want) {
		t.Errorf("parameters of the weights file without a gradient here: %v; the reference lists %v", noGrad, want)
	}
}
