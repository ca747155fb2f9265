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
