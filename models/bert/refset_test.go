package bert

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
)

// parityTests are the tests that read UMT_REFDATA's stage-2 files.
const parityTests = "^(TestTextModeMatchesReference|TestFusionModeMatchesReference|TestTextThenFusionChainsToReference|TestMLMHeadMatchesReference|TestStateDictNamesAndShapes|TestGradientsMatchReference|TestLoadUMTCheckpointInfersTheConfig)$"

// TestParityTestsTakeEveryOptionFromTheSet runs the stage-2 parity tests against reference
// sets with other sizes than the public one (widths, depths, heads, fusion layer, vision width,
// vocabulary, batch, sequence and memory lengths, several frames in vision_proj, LayerNorm eps),
// written in the reference layout by this package's own model. Such a set proves nothing about
// fidelity (the public set does that); it proves that the tests read every option from the
// manifest and every size from the tensors, and that a set they cannot handle fails them with
// the reason, never a skip or a panic.
func TestParityTestsTakeEveryOptionFromTheSet(t *testing.T) {
	a := Config{Hidden: 24, Layers: 3, Heads: 3, Intermediate: 40, Vocab: 300, MaxPosition: 16, TypeVocab: 2, Eps: 1e-12, FusionLayer: 1, EncoderWidth: 20}
	b := Config{Hidden: 16, Layers: 4, Heads: 2, Intermediate: 24, Vocab: 150, MaxPosition: 12, TypeVocab: 3, Eps: 1e-6, FusionLayer: 3, EncoderWidth: 16}
	for name, s := range map[string]setSpec{
		"3 layers fusion 1":       {cfg: a, B: 3, L: 10, N: 5, T: 1, E: 8},
		"4 layers fusion 3 eps-6": {cfg: b, B: 5, L: 12, N: 3, T: 2, E: 6},
	} {
		dir := t.TempDir()
		writeStage2Set(t, dir, s, nil)
		t.Run(name, func(t *testing.T) { testenv.RunParity(t, dir, parityTests, "") })
	}

	base := t.TempDir()
	s := setSpec{cfg: a, B: 3, L: 10, N: 5, T: 1, E: 8}
	writeStage2Set(t, base, s, nil)
	for _, c := range []struct {
		name string
		edit func(bert, top map[string]any)
		want string
	}{
		{"dropout", func(b, _ map[string]any) { b["dropout"] = 0.1 }, "dropout 0.1"},
		{"other activation", func(b, _ map[string]any) { b["hidden_act"] = "relu" }, `hidden_act "relu"`},
		{"fp16", func(_, top map[string]any) { top["fp16"] = true }, "fp16 true"},
		{"unknown option", func(b, _ map[string]any) { b["position_embedding_type"] = "relative_key" }, `unknown field "position_embedding_type"`},
		{"layers disagree with fusion_layer", func(b, _ map[string]any) { b["fusion_layer"] = 2 }, "fusion_layer 2 of 3 gives"},
		{"other sizes than the tensors", func(b, _ map[string]any) { b["hidden"] = 30; b["heads"] = 3 }, "has shape"},
		{"no batch file", func(_, top map[string]any) { delete(top, "video"); top["image"] = map[string]any{"B": 3} }, "none of the batches"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{refWeights, refIOPrefix + "video_io.safetensors"} {
				if err := os.Symlink(filepath.Join(base, f), filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			writeStage2Manifest(t, dir, s, c.edit)
			testenv.RunParity(t, dir, parityTests, c.want)
		})
	}
}

// setSpec is the shape of a generated stage-2 set: encoder config, B captions of L tokens, N
// vision tokens per clip, T frames in vision_proj, contrastive width E.
type setSpec struct {
	cfg           Config
	B, L, N, T, E int
}

// writeStage2Manifest writes dir/manifest.json for s; edit may change the bert block and the
// top-level stage2_model_config.
func writeStage2Manifest(t *testing.T, dir string, s setSpec, edit func(bert, top map[string]any)) {
	t.Helper()
	c := s.cfg
	text, fusion := c.TextLayers(), c.FusionLayers()
	bert := map[string]any{"hidden": c.Hidden, "layers": c.Layers, "heads": c.Heads, "intermediate": c.Intermediate,
		"fusion_layer": c.FusionLayer, "vocab": c.Vocab, "max_position_embeddings": c.MaxPosition, "layer_norm_eps": c.Eps,
		"hidden_act": "gelu", "dropout": 0.0, "encoder_width": c.EncoderWidth, "gradient_checkpointing": true,
		"text_layers": text, "fusion_layers(with cross-attention)": fusion, "type_vocab_size": c.TypeVocab}
	top := map[string]any{"bert": bert, "embed_dim": s.E, "temp_init": 0.07, "max_txt_l": s.L, "fp16": false, "dtype": "float32",
		"criterion": map[string]any{"loss_weight": map[string]any{"uta": 1, "vtc": 1, "vtm": 1, "mlm": 1}, "vtm_hard_neg": true,
			"mlm_masking_prob": 0.5, "uta_norm_type": "l2", "uta_loss_type": "l2"},
		"video": map[string]any{"B": s.B, "T": s.T}}
	if edit != nil {
		edit(bert, top)
	}
	data, err := json.MarshalIndent(map[string]any{"stage2_model_config": top}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeStage2Set writes the weights, the video batch and the manifest of a stage-2 set for s,
// every stored value computed by this package (runTextSide) from random weights and inputs.
func writeStage2Set(t *testing.T, dir string, s setSpec, edit func(bert, top map[string]any)) {
	t.Helper()
	c := s.cfg
	r := rand.New(rand.NewPCG(uint64(c.Hidden), uint64(c.Layers)))
	flat := InitParams(c, 3)
	for i := range flat {
		flat[i] += float32(0.1 * r.NormFloat64())
	}
	B, L, N, H, E, V := s.B, s.L, s.N, c.Hidden, s.E, c.Vocab
	in := sideIn{B: B, L: L, N: N, T: s.T, E: E, temp: 0.07,
		vis: randn(r, B*N*c.EncoderWidth, 1), vproj: randn(r, B*s.T*E, 1),
		tpW: randn(r, E*H, 0.3), tpB: randn(r, E, 0.1), itmW: randn(r, 2*H, 0.3), itmB: randn(r, 2, 0.1)}
	for i := 0; i < B; i++ {
		n := L - i%3 // some padding
		for l := 0; l < L; l++ {
			id, m, mid, lbl := int32(0), int32(0), int32(0), int32(IgnoreIndex)
			if l < n {
				id, m = int32(1+r.IntN(V-1)), 1
				mid = id
				if l > 0 && r.IntN(2) == 0 {
					lbl, mid = id, int32(r.IntN(V))
				}
			}
			in.ids, in.mask, in.mids, in.label = append(in.ids, id), append(in.mask, m), append(in.mids, mid), append(in.label, lbl)
		}
		in.vneg = append(in.vneg, int64((i+1)%B))
		in.tneg = append(in.tneg, int64((i+B-1)%B))
		in.idx = append(in.idx, int64(i%(B-1))) // first and last collide when B > 2
	}
	in.label[1] = in.ids[1] // at least one labelled position
	be := cpu.New(cpu.Options{Threads: 2})
	m, err := New(be, c, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	o := runTextSide(t, m, be, in)
	ws, err := StateFromParams(c, flat, UMTPrefix)
	if err != nil {
		t.Fatal(err)
	}
	ws = append(ws, weights.F32Tensor("text_proj.weight", []int{E, H}, in.tpW), weights.F32Tensor("text_proj.bias", []int{E}, in.tpB),
		weights.F32Tensor("itm_head.weight", []int{2, H}, in.itmW), weights.F32Tensor("itm_head.bias", []int{2}, in.itmB))
	i64 := func(name string, shape []int, v []int64) weights.Tensor {
		data := make([]byte, 8*len(v))
		for i, x := range v {
			for k := 0; k < 8; k++ {
				data[8*i+k] = byte(uint64(x) >> (8 * k))
			}
		}
		return weights.Tensor{Name: name, DType: "I64", Shape: shape, Data: data}
	}
	wide := func(v []int32) []int64 {
		out := make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
		return out
	}
	var pos []int64
	for i, y := range in.label {
		if y != IgnoreIndex {
			pos = append(pos, int64(i/L), int64(i%L))
		}
	}
	k := min(o.masked, 4)
	io := []weights.Tensor{
		i64("text.input_ids", []int{B, L}, wide(in.ids)), i64("text.attention_mask", []int{B, L}, wide(in.mask)),
		i64("mlm.input_ids_masked", []int{B, L}, wide(in.mids)), i64("mlm.labels", []int{B, L}, wide(in.label)),
		i64("mlm.masked_positions", []int{o.masked, 2}, pos), i64("idx", []int{B}, in.idx),
		i64("draw.vtm.vision_neg_indices", []int{B}, in.vneg), i64("draw.vtm.txt_neg_indices", []int{B}, in.tneg),
		weights.F32Tensor("student.vision_embeds", []int{B, N, c.EncoderWidth}, in.vis),
		weights.F32Tensor("proj.vision_proj", []int{B, s.T, E}, in.vproj),
		weights.F32Tensor("temp", []int{1}, []float32{float32(in.temp)}),
		weights.F32Tensor("text.text_embeds", []int{B, L, H}, o.textEmbeds),
		weights.F32Tensor("bert.mlm_text.last_hidden_state", []int{B, L, H}, o.mlmText),
		weights.F32Tensor("mlm.head_input", []int{B, L, H}, o.headInput),
		weights.F32Tensor("bert.vtm_fusion.last_hidden_state", []int{3 * B, L, H}, o.vtmFusion),
		weights.F32Tensor("mlm.logits_at_masked", []int{k, V}, o.mlmLogits[:k*V]),
		weights.F32Tensor("proj.text_proj", []int{B, E}, f32s(o.textProj)),
		weights.F32Tensor("vtm.itm_logits", []int{3 * B, 2}, f32s(o.itmLogits)),
		weights.F32Tensor("loss.vtc", []int{1}, []float32{float32(o.lossVTC)}),
		weights.F32Tensor("loss.vtm", []int{1}, []float32{float32(o.lossVTM)}),
		weights.F32Tensor("loss.mlm", []int{1}, []float32{float32(o.lossMLM)}),
	}
	for _, p := range m.Params() {
		io = append(io, weights.F32Tensor("grad."+UMTPrefix+p.Name, p.Shape, o.grads[p.Off:p.Off+p.Len]))
	}
	for name, ts := range map[string][]weights.Tensor{refWeights: ws, refIOPrefix + "video_io.safetensors": io} {
		data, err := weights.Marshal(ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeStage2Manifest(t, dir, s, edit)
}
