package clip

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/umt-dev/umt/models"
)

// Config is the teacher's architecture and how it is run. Zero fields take the defaults listed;
// Load fills the shape fields from the weights and checks any that were set against them.
type Config struct {
	Width     int `json:"width"`      // D, transformer width (768 B/16, 1024 L/14)
	Layers    int `json:"layers"`     // residual blocks (12, 24)
	Heads     int `json:"heads"`      // attention heads; default Width/64 (OpenAI's convention)
	Patch     int `json:"patch"`      // patch size P (16, 14)
	OutputDim int `json:"output_dim"` // O, columns of proj (512, 768)
	MLPDim    int `json:"mlp_dim"`    // hidden width of the MLP; default 4·Width
	PosGrid   int `json:"pos_grid"`   // side of the weights' positional grid (14 B/16, 16 L/14)

	// Resolution is the square input size the teacher runs at; frames of another size are
	// resized bicubically. Default 14·Patch: UMT runs its teacher on a 14×14 grid, 224 for /16
	// and 196 for /14, so that it yields as many tokens per frame as the student.
	Resolution int `json:"resolution"`

	ReturnLayers int `json:"return_layers"` // K; default min(6, Layers)
	// ReturnInterval spaces the returned blocks counted from the last (clip_return_interval, a
	// float in the official code; see models.ReturnedBlocks); default 1.
	ReturnInterval float64 `json:"return_interval"`

	// Norm is "l2" (stage 1, default) or "none" (stage-2 teacher: ln_post → proj only).
	Norm string `json:"norm"`

	Mean [3]float32 `json:"mean"` // per-channel mean of pixels in [0,1]; default ImageNet
	Std  [3]float32 `json:"std"`  // per-channel std; default ImageNet
	Eps  float32    `json:"eps"`  // LayerNorm epsilon; default 1e-5
}

// ImageNet normalisation, what UMT feeds the teacher (UMT.md §3.3); CLIP's own constants are
// available for other uses.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
	CLIPMean     = [3]float32{0.48145466, 0.4578275, 0.40821073}
	CLIPStd      = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// Presets of UMT's two teachers (UMT.md §1.3).
var (
	ViTB16 = Config{Width: 768, Layers: 12, Heads: 12, Patch: 16, OutputDim: 512, PosGrid: 14, Resolution: 224, ReturnLayers: 6, ReturnInterval: 1}
	ViTL14 = Config{Width: 1024, Layers: 24, Heads: 16, Patch: 14, OutputDim: 768, PosGrid: 16, Resolution: 196, ReturnLayers: 6, ReturnInterval: 1}
	// Tiny is the reference set's tiny teacher (testdata/refdata/umt, teacher_tiny_*), the
	// teacher of the demo and of CPU smoke runs.
	Tiny = Config{Width: 64, Layers: 3, Heads: 4, Patch: 16, OutputDim: 32, PosGrid: 4, Resolution: 64, ReturnLayers: 2, ReturnInterval: 1}
)

// PresetNames lists the names Preset knows, in the order help texts give them.
var PresetNames = []string{"tiny", "b16", "l14"}

// Preset returns the architecture a short name gives: tiny, b16 (ViT-B/16) or l14 (ViT-L/14).
func Preset(name string) (Config, error) {
	switch strings.ToLower(name) {
	case "tiny":
		return Tiny, nil
	case "b16", "vit-b/16", "vit-b16":
		return ViTB16, nil
	case "l14", "vit-l/14", "vit-l14":
		return ViTL14, nil
	}
	return Config{}, fmt.Errorf("unknown teacher preset %q; use %s", name, strings.Join(PresetNames, ", "))
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Heads == 0 && c.Width%64 == 0 {
		c.Heads = c.Width / 64
	}
	if c.MLPDim == 0 {
		c.MLPDim = 4 * c.Width
	}
	if c.Resolution == 0 {
		c.Resolution = 14 * c.Patch
	}
	if c.ReturnLayers == 0 {
		c.ReturnLayers = min(6, c.Layers)
	}
	if c.ReturnInterval == 0 {
		c.ReturnInterval = 1
	}
	if c.Norm == "" {
		c.Norm = "l2"
	}
	if c.Mean == ([3]float32{}) {
		c.Mean = ImageNetMean
	}
	if c.Std == ([3]float32{}) {
		c.Std = ImageNetStd
	}
	if c.Eps == 0 {
		c.Eps = 1e-5
	}
	return c
}

// Grid is the side of the patch grid the teacher runs on (Resolution / Patch).
func (c Config) Grid() int { return c.Resolution / c.Patch }

// Tokens is the number of patch tokens per frame, HW = Grid².
func (c Config) Tokens() int { return c.Grid() * c.Grid() }

// ReturnIndices are the 0-based blocks whose outputs are returned, ascending (the stacking order
// of the features' first axis): Layers-1-⌊i·ReturnInterval⌋ for i < K, as the official teacher
// (models.ReturnedBlocks). Nil for a config that Validate rejects.
func (c Config) ReturnIndices() []int {
	idx, err := models.ReturnedBlocks(c.Layers, c.ReturnLayers, c.ReturnInterval)
	if err != nil {
		return nil
	}
	return idx
}

// Validate checks a defaulted config for consistency.
func (c Config) Validate() error {
	var bad []string
	pos := func(name string, v int) {
		if v <= 0 {
			bad = append(bad, fmt.Sprintf("%s must be positive (got %d)", name, v))
		}
	}
	pos("width", c.Width)
	pos("layers", c.Layers)
	pos("heads", c.Heads)
	pos("patch", c.Patch)
	pos("output_dim", c.OutputDim)
	pos("mlp_dim", c.MLPDim)
	pos("pos_grid", c.PosGrid)
	pos("resolution", c.Resolution)
	pos("return_layers", c.ReturnLayers)
	if len(bad) > 0 {
		return fmt.Errorf("clip config: %s", strings.Join(bad, "; "))
	}
	if c.Width%c.Heads != 0 {
		return fmt.Errorf("clip config: width %d is not divisible by heads %d", c.Width, c.Heads)
	}
	if c.Resolution%c.Patch != 0 {
		return fmt.Errorf("clip config: resolution %d is not a multiple of patch %d", c.Resolution, c.Patch)
	}
	if _, err := models.ReturnedBlocks(c.Layers, c.ReturnLayers, c.ReturnInterval); err != nil {
		return fmt.Errorf("clip config: return_layers/return_interval: %w", err)
	}
	if c.Norm != "l2" && c.Norm != "none" {
		return fmt.Errorf("clip config: norm %q, want \"l2\" (stage 1) or \"none\" (stage 2)", c.Norm)
	}
	for i, s := range c.Std {
		if !(s > 0) {
			return fmt.Errorf("clip config: std[%d] = %g must be positive", i, s)
		}
	}
	if !(c.Eps > 0) {
		return fmt.Errorf("clip config: eps %g must be positive", c.Eps)
	}
	return nil
}

// hfVision is the part of a Hugging Face CLIP config.json the teacher needs.
type hfVision struct {
	HiddenSize       *int     `json:"hidden_size"`
	IntermediateSize *int     `json:"intermediate_size"`
	NumHeads         *int     `json:"num_attention_heads"`
	NumLayers        *int     `json:"num_hidden_layers"`
	PatchSize        *int     `json:"patch_size"`
	ImageSize        *int     `json:"image_size"`
	ProjectionDim    *int     `json:"projection_dim"`
	LayerNormEps     *float64 `json:"layer_norm_eps"`
	HiddenAct        *string  `json:"hidden_act"`
}

// ParseConfigJSON reads either a Hugging Face config.json (CLIPModel with "vision_config", or
// CLIPVisionModel) or this package's own Config JSON. Fields the file does not give stay zero.
func ParseConfigJSON(data []byte) (Config, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return Config{}, fmt.Errorf("config is not a JSON object: %w", err)
	}
	_, hasVision := probe["vision_config"]
	_, hasModelType := probe["model_type"]
	_, hasHidden := probe["hidden_size"]
	if !hasVision && !hasModelType && !hasHidden {
		var c Config
		d := json.NewDecoder(strings.NewReader(string(data)))
		d.DisallowUnknownFields()
		if err := d.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("config: %w (expected a Hugging Face config.json or a teacher config with fields width, layers, heads, patch, output_dim, resolution, ...)", err)
		}
		return c, nil
	}
	var v hfVision
	var top struct {
		VisionConfig  *hfVision `json:"vision_config"`
		ProjectionDim *int      `json:"projection_dim"`
		ModelType     string    `json:"model_type"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	if top.VisionConfig != nil {
		v = *top.VisionConfig
	} else if err := json.Unmarshal(data, &v); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	if top.ModelType != "" && !strings.HasPrefix(top.ModelType, "clip") {
		return Config{}, fmt.Errorf("config.json: model_type %q is not a CLIP model", top.ModelType)
	}
	if v.HiddenAct != nil && *v.HiddenAct != "quick_gelu" {
		return Config{}, fmt.Errorf("config.json: hidden_act %q; UMT's CLIP teacher uses quick_gelu", *v.HiddenAct)
	}
	var c Config
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Width, v.HiddenSize)
	set(&c.MLPDim, v.IntermediateSize)
	set(&c.Heads, v.NumHeads)
	set(&c.Layers, v.NumLayers)
	set(&c.Patch, v.PatchSize)
	set(&c.OutputDim, v.ProjectionDim)
	set(&c.OutputDim, top.ProjectionDim)
	if v.ImageSize != nil && c.Patch > 0 {
		c.PosGrid = *v.ImageSize / c.Patch
	}
	if v.LayerNormEps != nil {
		c.Eps = float32(*v.LayerNormEps)
	}
	return c, nil
}

// ReadConfigFile reads a config file (see ParseConfigJSON).
func ReadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfigJSON(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Merge returns c with every nonzero field of o copied over it (flags over a file's values).
func (c Config) Merge(o Config) Config {
	ints := []struct{ dst, src *int }{
		{&c.Width, &o.Width}, {&c.Layers, &o.Layers}, {&c.Heads, &o.Heads}, {&c.Patch, &o.Patch},
		{&c.OutputDim, &o.OutputDim}, {&c.MLPDim, &o.MLPDim}, {&c.PosGrid, &o.PosGrid},
		{&c.Resolution, &o.Resolution}, {&c.ReturnLayers, &o.ReturnLayers},
	}
	for _, p := range ints {
		if *p.src != 0 {
			*p.dst = *p.src
		}
	}
	if o.ReturnInterval != 0 {
		c.ReturnInterval = o.ReturnInterval
	}
	if o.Norm != "" {
		c.Norm = o.Norm
	}
	if o.Mean != ([3]float32{}) {
		c.Mean = o.Mean
	}
	if o.Std != ([3]float32{}) {
		c.Std = o.Std
	}
	if o.Eps != 0 {
		c.Eps = o.Eps
	}
	return c
}
