package multimodal

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights"
)

// VisionPrefix is the prefix of the vision encoder's tensors in a UMT stage-2 state dict.
const VisionPrefix = "vision_encoder."

// PositionIDs is the BERT buffer arange(max_position) [1, max_position] (I64) that the official
// state dict carries beside the parameters.
const PositionIDs = bert.UMTPrefix + "bert.embeddings.position_ids"

// FromState reads a UMT stage-2 state dict in the official multi_modality names
// (vision_encoder.*, text_encoder.*, vision_proj, text_proj, itm_head, temp): every parameter
// must be there with its shape. clip_teacher.*, const.* and buffers are ignored (the teacher's
// features come from the shards); temp may be 0-d or [1].
func FromState(c Config, sd map[string]*weights.Tensor) (Flat, error) {
	if err := c.Validate(); err != nil {
		return Flat{}, err
	}
	vsd := map[string]*weights.Tensor{}
	for name, t := range sd {
		if rest, ok := strings.CutPrefix(name, VisionPrefix); ok {
			vsd[rest] = t
		}
	}
	var f Flat
	var err error
	if f.Vision, err = vit.ParamsFromState(c.Vision, vsd); err != nil {
		return Flat{}, fmt.Errorf("multimodal: %s: %w", VisionPrefix, err)
	}
	if f.Text, _, err = bert.ParamsFromState(c.Text, sd, bert.UMT, 0); err != nil {
		return Flat{}, fmt.Errorf("multimodal: %w", err)
	}
	f.Heads = make([]float32, c.HeadParams())
	for _, p := range headLayout(c) {
		t := sd[p.Name]
		if t == nil {
			return Flat{}, fmt.Errorf("multimodal: state dict has no %q; is it a UMT stage-2 checkpoint?", p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) && !(p.Name == "temp" && slices.Equal(t.Shape, []int{1})) {
			return Flat{}, fmt.Errorf("multimodal: %q has shape %v, the config needs %v", p.Name, t.Shape, p.Shape)
		}
		v, err := t.Float32()
		if err != nil {
			return Flat{}, fmt.Errorf("multimodal: %s: %w", p.Name, err)
		}
		copy(f.Heads[p.Off:p.Off+p.Len], v)
	}
	return f, nil
}

// State is the model's official multi_modality state dict (without clip_teacher.*): temp
// (0-d, as the nn.Parameter is), vision_encoder.*, text_encoder.* (the tied MLM decoder stored
// once as the word embeddings, plus the position_ids buffer), vision_proj, text_proj,
// itm_head, in UMT.state_dict() order.
func State(c Config, f Flat) ([]weights.Tensor, error) {
	if len(f.Heads) != c.HeadParams() {
		return nil, fmt.Errorf("multimodal: %d head values, the config has %d", len(f.Heads), c.HeadParams())
	}
	heads := map[string]weights.Tensor{}
	for _, p := range headLayout(c) {
		heads[p.Name] = weights.F32Tensor(p.Name, slices.Clone(p.Shape), f.Heads[p.Off:p.Off+p.Len])
	}
	vs, err := vit.StateFromParams(c.Vision, f.Vision)
	if err != nil {
		return nil, err
	}
	ts, err := bert.StateFromParams(c.Text, f.Text, bert.UMTPrefix)
	if err != nil {
		return nil, err
	}
	sd := []weights.Tensor{heads["temp"]}
	for _, t := range vs {
		t.Name = VisionPrefix + t.Name
		sd = append(sd, t)
	}
	sd = append(sd, positionIDs(c.Text.MaxPosition))
	sd = append(sd, ts...)
	for _, n := range []string{"vision_proj.weight", "vision_proj.bias", "text_proj.weight", "text_proj.bias", "itm_head.weight", "itm_head.bias"} {
		sd = append(sd, heads[n])
	}
	return sd, nil
}

func positionIDs(n int) weights.Tensor {
	b := make([]byte, 8*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(i))
	}
	return weights.Tensor{Name: PositionIDs, DType: "I64", Shape: []int{1, n}, Data: b}
}

// Stage1Load is what loading a stage-1 student into the stage-2 vision encoder did.
type Stage1Load struct {
	Loaded     []string // student tensors copied (name and shape matched)
	Missing    []string // stage-2 tensors the file lacks, left at their initial values
	Unexpected []string // file tensors the encoder has no use for
}

// VisionFromStage1 loads a stage-1 student state dict (encoder.*, clip_decoder.*; a {"model":
// …} wrapper must be unwrapped by the caller, UMT.md §9 quirk 3) into initial stage-2
// vision-encoder parameters init (e.g. vit.InitParams of the stage-2 config) with PyTorch's
// load_state_dict(strict=False) semantics: matching names are copied, a shape mismatch is an
// error, missing names keep their initial values (pool_norm.weight = 1, pool_norm.bias = 0 with
// vit.InitParams, as _init_weights), and unexpected names are reported, not loaded.
func VisionFromStage1(c vit.Config, init []float32, sd map[string]*weights.Tensor) ([]float32, Stage1Load, error) {
	var r Stage1Load
	if !c.Stage2 {
		return nil, r, fmt.Errorf("multimodal: the target config must be the stage-2 encoder")
	}
	flat := slices.Clone(init)
	if len(flat) != c.Params() {
		return nil, r, fmt.Errorf("multimodal: %d initial values for a config with %d", len(flat), c.Params())
	}
	have := map[string]bool{}
	for _, p := range vit.Layout(c) {
		have[p.Name] = true
		t := sd[p.Name]
		if t == nil {
			r.Missing = append(r.Missing, p.Name)
			continue
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, r, fmt.Errorf("multimodal: stage-1 %q has shape %v, the stage-2 encoder needs %v (load_state_dict refuses size mismatches even with strict=False)", p.Name, t.Shape, p.Shape)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, r, fmt.Errorf("multimodal: stage-1 %s: %w", p.Name, err)
		}
		copy(flat[p.Off:p.Off+p.Len], v)
		r.Loaded = append(r.Loaded, p.Name)
	}
	for _, k := range sortedKeys(sd) {
		if !have[k] {
			r.Unexpected = append(r.Unexpected, k)
		}
	}
	return flat, r, nil
}

// sortedKeys lists a state dict's names in order.
func sortedKeys(sd map[string]*weights.Tensor) []string {
	out := make([]string, 0, len(sd))
	for k := range sd {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Options are what a stage-2 state dict's shapes do not record: head counts, the input size
// and frames, the student's return interval and drop path, the temperature's initial value
// and the MLM probability.
type Options struct {
	VisionHeads, TextHeads int
	ImgSize, Frames        int
	ReturnInterval         float64 // 0 means 1
	DropPath               float64
	TempInit, MLMProb      float64 // 0 means 0.07 and 0.5
}

// InferConfig reads the architecture of a UMT stage-2 state dict from its shapes (official
// names) and completes it with o.
func InferConfig(sd map[string]*weights.Tensor, o Options) (Config, error) {
	shape := func(name string, dims int) ([]int, error) {
		t := sd[name]
		if t == nil || len(t.Shape) != dims {
			return nil, fmt.Errorf("multimodal: cannot infer the architecture: no %d-D %q", dims, name)
		}
		return t.Shape, nil
	}
	pe, err := shape(VisionPrefix+"encoder.patch_embed.proj.weight", 5)
	if err != nil {
		return Config{}, err
	}
	fc1, err := shape(VisionPrefix+"encoder.blocks.0.mlp.fc1.weight", 2)
	if err != nil {
		return Config{}, err
	}
	dec, err := shape(VisionPrefix+"clip_decoder.0.head.weight", 2)
	if err != nil {
		return Config{}, err
	}
	vp, err := shape("vision_proj.weight", 2)
	if err != nil {
		return Config{}, err
	}
	v := vit.Config{ImgSize: o.ImgSize, Patch: pe[3], Frames: o.Frames, Tubelet: pe[2], Dim: pe[0], Heads: o.VisionHeads,
		MLPRatio: fc1[0] / max(1, pe[0]), ClipDim: dec[0], ReturnInterval: o.ReturnInterval, DropPath: o.DropPath, Stage2: true}
	for sd[fmt.Sprintf("%sencoder.blocks.%d.norm1.weight", VisionPrefix, v.Depth)] != nil {
		v.Depth++
	}
	for sd[fmt.Sprintf("%sclip_decoder.%d.head.weight", VisionPrefix, v.ReturnLayers)] != nil {
		v.ReturnLayers++
	}
	t, err := bert.InferConfig(sd, bert.UMT, o.TextHeads)
	if err != nil {
		return Config{}, err
	}
	c := Config{Vision: v, Text: t, EmbedDim: vp[0], TempInit: o.TempInit, MLMProb: o.MLMProb}
	if c.TempInit == 0 {
		c.TempInit = 0.07
	}
	if c.MLMProb == 0 {
		c.MLMProb = 0.5
	}
	return c, c.Validate()
}

// EncodeState is State as safetensors bytes (the caller writes them atomically, e.g. with
// transforms/storage.WriteFile): the official multi_modality model loads it with
// load_state_dict(strict=False), which leaves only its clip_teacher.* untouched.
func EncodeState(c Config, f Flat, meta map[string]string) ([]byte, error) {
	sd, err := State(c, f)
	if err != nil {
		return nil, err
	}
	return weights.Marshal(sd, meta)
}
