package clip

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/umt-dev/umt/models/weights"
)

// Naming says how a checkpoint names the vision tower's tensors.
type Naming struct {
	HF     bool   // Hugging Face CLIPModel / CLIPVisionModelWithProjection names
	Prefix string // OpenAI names: "visual." (full CLIP), "" (UMT's extracted file) or "clip_teacher."
}

func (n Naming) String() string {
	if n.HF {
		return "Hugging Face (vision_model.*, visual_projection.weight)"
	}
	if n.Prefix == "" {
		return "OpenAI, prefix stripped"
	}
	return "OpenAI (" + n.Prefix + "*)"
}

// DetectNaming finds the vision tower in a checkpoint.
func DetectNaming(f *weights.File) (Naming, error) {
	if f.Get("vision_model.embeddings.class_embedding") != nil {
		return Naming{HF: true}, nil
	}
	for _, p := range []string{"visual.", "", "clip_teacher."} {
		if f.Get(p+"class_embedding") != nil {
			return Naming{Prefix: p}, nil
		}
	}
	return Naming{}, fmt.Errorf("no CLIP vision tower found among %d tensors: expected visual.class_embedding (OpenAI CLIP), class_embedding (UMT's extracted teacher) or vision_model.embeddings.class_embedding (Hugging Face)", len(f.Tensors))
}

// hfName maps an OpenAI-style name to its Hugging Face name (for names mapped one to one).
func hfName(name string) string {
	if rest, ok := strings.CutPrefix(name, "transformer.resblocks."); ok {
		i, sub, _ := strings.Cut(rest, ".")
		r := strings.NewReplacer("ln_1.", "layer_norm1.", "ln_2.", "layer_norm2.",
			"attn.out_proj.", "self_attn.out_proj.", "mlp.c_fc.", "mlp.fc1.", "mlp.c_proj.", "mlp.fc2.")
		return "vision_model.encoder.layers." + i + "." + r.Replace(sub)
	}
	switch name {
	case "class_embedding":
		return "vision_model.embeddings.class_embedding"
	case "positional_embedding":
		return "vision_model.embeddings.position_embedding.weight"
	case "conv1.weight":
		return "vision_model.embeddings.patch_embedding.weight"
	case "proj":
		return "visual_projection.weight"
	}
	r := strings.NewReplacer("ln_pre.", "vision_model.pre_layrnorm.", "ln_post.", "vision_model.post_layernorm.")
	return r.Replace(name)
}

// reader loads tensors by OpenAI-style name from a checkpoint of either naming.
type reader struct {
	f *weights.File
	n Naming
}

// fileName is the name a parameter has in this checkpoint (for messages and lookups).
func (r reader) fileName(name string) string {
	if r.n.HF {
		return hfName(name)
	}
	return r.n.Prefix + name
}

// tensor returns a tensor by its name in the file, or an error saying it is missing.
func (r reader) tensor(fileName string) (*weights.Tensor, error) {
	t := r.f.Get(fileName)
	if t == nil {
		return nil, fmt.Errorf("clip weights: missing tensor %s (%s naming)", fileName, r.n)
	}
	return t, nil
}

// load reads one parameter as float32 in OpenAI layout with shape want.
func (r reader) load(name string, want []int) ([]float32, error) {
	if r.n.HF {
		switch {
		case strings.HasSuffix(name, "attn.in_proj_weight"), strings.HasSuffix(name, "attn.in_proj_bias"):
			return r.loadQKV(name, want)
		case name == "proj": // HF stores the transpose, [O, D]
			v, err := r.loadShaped(hfName(name), []int{want[1], want[0]})
			if err != nil {
				return nil, err
			}
			return transpose(v, want[1], want[0]), nil
		}
	}
	fn := r.fileName(name)
	if name == "conv1.weight" {
		// UMT's own checkpoints hold the inflated Conv3d kernel [D, 3, 1, P, P].
		if t := r.f.Get(fn); t != nil && len(t.Shape) == 5 && t.Shape[2] == 1 {
			return r.loadShaped(fn, []int{want[0], want[1], 1, want[2], want[3]})
		}
	}
	return r.loadShaped(fn, want)
}

// loadShaped reads a tensor and checks its shape.
func (r reader) loadShaped(fileName string, want []int) ([]float32, error) {
	t, err := r.tensor(fileName)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(t.Shape, want) {
		return nil, fmt.Errorf("clip weights: tensor %s has shape %v, want %v", fileName, t.Shape, want)
	}
	v, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("clip weights: %w", err)
	}
	return v, nil
}

// loadQKV concatenates HF's q_proj, k_proj, v_proj into OpenAI's in_proj_weight / in_proj_bias.
func (r reader) loadQKV(name string, want []int) ([]float32, error) {
	block, _, _ := strings.Cut(strings.TrimPrefix(name, "transformer.resblocks."), ".")
	kind := "weight"
	part := []int{want[0] / 3}
	if strings.HasSuffix(name, "weight") {
		part = append(part, want[1])
	} else {
		kind = "bias"
	}
	var out []float32
	for _, p := range []string{"q_proj", "k_proj", "v_proj"} {
		v, err := r.loadShaped(fmt.Sprintf("vision_model.encoder.layers.%s.self_attn.%s.%s", block, p, kind), part)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

func transpose(v []float32, rows, cols int) []float32 {
	t := make([]float32, len(v))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = v[i*cols+j]
		}
	}
	return t
}

// inferShapes reads the architecture off the checkpoint's tensor shapes.
func (r reader) inferShapes() (Config, error) {
	var c Config
	shape := func(name string) ([]int, error) {
		t, err := r.tensor(r.fileName(name))
		if err != nil {
			return nil, err
		}
		return t.Shape, nil
	}
	s, err := shape("class_embedding")
	if err != nil {
		return c, err
	}
	if len(s) != 1 {
		return c, fmt.Errorf("clip weights: %s has shape %v, want [width]", r.fileName("class_embedding"), s)
	}
	c.Width = s[0]
	if s, err = shape("conv1.weight"); err != nil {
		return c, err
	}
	switch {
	case len(s) == 4 && s[2] == s[3]:
		c.Patch = s[3]
	case len(s) == 5 && s[2] == 1 && s[3] == s[4]:
		c.Patch = s[4]
	default:
		return c, fmt.Errorf("clip weights: %s has shape %v, want [width, 3, patch, patch]", r.fileName("conv1.weight"), s)
	}
	if s, err = shape("positional_embedding"); err != nil {
		return c, err
	}
	if len(s) != 2 || s[0] < 2 {
		return c, fmt.Errorf("clip weights: %s has shape %v, want [grid²+1, width]", r.fileName("positional_embedding"), s)
	}
	g := int(math.Round(math.Sqrt(float64(s[0] - 1))))
	if g*g+1 != s[0] {
		return c, fmt.Errorf("clip weights: %s has %d rows, not a square grid plus CLS", r.fileName("positional_embedding"), s[0])
	}
	c.PosGrid = g
	for r.f.Get(r.fileName(fmt.Sprintf("transformer.resblocks.%d.ln_1.weight", c.Layers))) != nil {
		c.Layers++
	}
	if c.Layers == 0 {
		return c, fmt.Errorf("clip weights: no residual blocks (missing %s)", r.fileName("transformer.resblocks.0.ln_1.weight"))
	}
	if s, err = shape("transformer.resblocks.0.mlp.c_fc.weight"); err != nil {
		return c, err
	}
	c.MLPDim = s[0]
	t := r.f.Get(r.fileName("proj"))
	if t == nil {
		if r.n.HF {
			return c, fmt.Errorf("clip weights: missing tensor visual_projection.weight: a bare CLIPVisionModel checkpoint has no projection; use a CLIPModel or CLIPVisionModelWithProjection checkpoint")
		}
		return c, fmt.Errorf("clip weights: missing tensor %s (%s naming)", r.fileName("proj"), r.n)
	}
	if len(t.Shape) != 2 {
		return c, fmt.Errorf("clip weights: %s has shape %v, want a matrix", t.Name, t.Shape)
	}
	c.OutputDim = t.Shape[1]
	if r.n.HF {
		c.OutputDim = t.Shape[0]
	}
	return c, nil
}

// FromFile loads the teacher's weights from a checkpoint in either naming. Shape fields of cfg
// that are zero are taken from the checkpoint; nonzero ones must agree with it. It returns the
// weights and the completed, validated config.
func FromFile(f *weights.File, cfg Config) (*Weights, Config, error) {
	n, err := DetectNaming(f)
	if err != nil {
		return nil, cfg, err
	}
	r := reader{f: f, n: n}
	got, err := r.inferShapes()
	if err != nil {
		return nil, cfg, err
	}
	for _, p := range []struct {
		name      string
		cfg, file int
		tensor    string
	}{
		{"width", cfg.Width, got.Width, "class_embedding"},
		{"patch", cfg.Patch, got.Patch, "conv1.weight"},
		{"pos_grid", cfg.PosGrid, got.PosGrid, "positional_embedding"},
		{"layers", cfg.Layers, got.Layers, "transformer.resblocks.N"},
		{"mlp_dim", cfg.MLPDim, got.MLPDim, "transformer.resblocks.0.mlp.c_fc.weight"},
		{"output_dim", cfg.OutputDim, got.OutputDim, "proj"},
	} {
		if p.cfg != 0 && p.cfg != p.file {
			return nil, cfg, fmt.Errorf("clip weights: the config gives %s %d but the checkpoint has %d (from %s)", p.name, p.cfg, p.file, r.fileName(p.tensor))
		}
	}
	cfg = cfg.Merge(got).WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, cfg, err
	}
	w := &Weights{}
	for _, s := range w.specs(cfg) {
		v, err := r.load(s.name, s.shape)
		if err != nil {
			return nil, cfg, err
		}
		*s.dst = v
	}
	return w, cfg, nil
}
