package clip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/umt-dev/umt/models/weights"
)

// Weights are the teacher's parameters on the host, float32, in OpenAI/UMT layout:
// Linear weights [out, in], Proj [Width, OutputDim] (applied as x @ Proj).
type Weights struct {
	Class            []float32 // [D]
	Pos              []float32 // [PosGrid²+1, D]
	Conv             []float32 // [D, 3, P, P]
	LnPreW, LnPreB   []float32 // [D]
	Blocks           []BlockWeights
	LnPostW, LnPostB []float32 // [D]
	Proj             []float32 // [D, O]
}

// BlockWeights are one residual block's parameters.
type BlockWeights struct {
	Ln1W, Ln1B     []float32 // [D]
	InW, InB       []float32 // [3D, D], [3D]: rows q, k, v
	OutW, OutB     []float32 // [D, D], [D]
	Ln2W, Ln2B     []float32 // [D]
	FcW, FcB       []float32 // [M, D], [M]
	CProjW, CProjB []float32 // [D, M], [D]
}

// tensorSpec is one parameter in OpenAI naming (prefix stripped) with its shape.
type tensorSpec struct {
	name  string
	shape []int
	dst   *[]float32
}

// specs lists every parameter of a config with the slot it loads into, in OpenAI naming.
func (w *Weights) specs(c Config) []tensorSpec {
	D, P, M, O := c.Width, c.Patch, c.MLPDim, c.OutputDim
	s := []tensorSpec{
		{"class_embedding", []int{D}, &w.Class},
		{"positional_embedding", []int{c.PosGrid*c.PosGrid + 1, D}, &w.Pos},
		{"conv1.weight", []int{D, 3, P, P}, &w.Conv},
		{"ln_pre.weight", []int{D}, &w.LnPreW},
		{"ln_pre.bias", []int{D}, &w.LnPreB},
	}
	if len(w.Blocks) != c.Layers {
		w.Blocks = make([]BlockWeights, c.Layers)
	}
	for i := range w.Blocks {
		b := &w.Blocks[i]
		p := fmt.Sprintf("transformer.resblocks.%d.", i)
		s = append(s,
			tensorSpec{p + "ln_1.weight", []int{D}, &b.Ln1W},
			tensorSpec{p + "ln_1.bias", []int{D}, &b.Ln1B},
			tensorSpec{p + "attn.in_proj_weight", []int{3 * D, D}, &b.InW},
			tensorSpec{p + "attn.in_proj_bias", []int{3 * D}, &b.InB},
			tensorSpec{p + "attn.out_proj.weight", []int{D, D}, &b.OutW},
			tensorSpec{p + "attn.out_proj.bias", []int{D}, &b.OutB},
			tensorSpec{p + "ln_2.weight", []int{D}, &b.Ln2W},
			tensorSpec{p + "ln_2.bias", []int{D}, &b.Ln2B},
			tensorSpec{p + "mlp.c_fc.weight", []int{M, D}, &b.FcW},
			tensorSpec{p + "mlp.c_fc.bias", []int{M}, &b.FcB},
			tensorSpec{p + "mlp.c_proj.weight", []int{D, M}, &b.CProjW},
			tensorSpec{p + "mlp.c_proj.bias", []int{D}, &b.CProjB},
		)
	}
	return append(s,
		tensorSpec{"ln_post.weight", []int{D}, &w.LnPostW},
		tensorSpec{"ln_post.bias", []int{D}, &w.LnPostB},
		tensorSpec{"proj", []int{D, O}, &w.Proj},
	)
}

// check verifies that every parameter is present with the size c implies.
func (w *Weights) check(c Config) error {
	for _, s := range w.specs(c) {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		if len(*s.dst) != n {
			return fmt.Errorf("clip weights: %s has %d values, want %d for shape %v", s.name, len(*s.dst), n, s.shape)
		}
	}
	return nil
}

// RandomWeights returns weights for c drawn from seed with the reference set's recipe (LayerNorm
// weights 1+0.1·N(0,1), biases 0.1·N(0,1), class/positional embedding and proj Width^-½·N(0,1),
// other weights N(0,1)/√fan_in): a teacher with realistic activations for benchmarks and tests.
func RandomWeights(c Config, seed uint64) (*Weights, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x636c6970))
	w := &Weights{}
	for _, s := range w.specs(c) {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		v := make([]float32, n)
		scale, offset := 1.0, 0.0
		switch {
		case hasSuffix(s.name, "ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight"):
			scale, offset = 0.1, 1
		case hasSuffix(s.name, "bias"):
			scale = 0.1
		case s.name == "class_embedding" || s.name == "positional_embedding" || s.name == "proj":
			scale = 1 / math.Sqrt(float64(c.Width))
		default: // [out, in...] weights
			fanIn := n / s.shape[0]
			scale = 1 / math.Sqrt(float64(fanIn))
		}
		for i := range v {
			v[i] = float32(offset + scale*r.NormFloat64())
		}
		*s.dst = v
	}
	return w, nil
}

// WriteRandom writes RandomWeights(c, seed) to path as an OpenAI-named safetensors file, so
// benchmarks run a real teacher size (e.g. ViT-B/16) without downloading weights.
func WriteRandom(path string, c Config, seed uint64) error {
	c = c.WithDefaults()
	w, err := RandomWeights(c, seed)
	if err != nil {
		return err
	}
	t, err := w.OpenAITensors(c)
	if err != nil {
		return err
	}
	data, err := weights.Marshal(t, nil)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func hasSuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if len(s) >= len(x) && s[len(s)-len(x):] == x {
			return true
		}
	}
	return false
}

// OpenAITensors returns the weights as a checkpoint in OpenAI naming with the "visual." prefix
// (what UMT's extraction notebook keeps of clip.load's state dict), for weights.Marshal.
func (w *Weights) OpenAITensors(c Config) ([]weights.Tensor, error) {
	c = c.WithDefaults()
	if err := w.check(c); err != nil {
		return nil, err
	}
	var out []weights.Tensor
	for _, s := range w.specs(c) {
		out = append(out, weights.F32Tensor("visual."+s.name, s.shape, *s.dst))
	}
	return out, nil
}

// HFTensors returns the weights as a Hugging Face CLIPVisionModelWithProjection checkpoint
// (vision_model.* and visual_projection.weight): in_proj split into q/k/v_proj, proj
// transposed to [O, D].
func (w *Weights) HFTensors(c Config) ([]weights.Tensor, error) {
	c = c.WithDefaults()
	if err := w.check(c); err != nil {
		return nil, err
	}
	var out []weights.Tensor
	for _, s := range w.specs(c) {
		v := *s.dst
		switch {
		case hasSuffix(s.name, "attn.in_proj_weight", "attn.in_proj_bias"):
			block, _, _ := strings.Cut(strings.TrimPrefix(s.name, "transformer.resblocks."), ".")
			kind, part := "bias", []int{s.shape[0] / 3}
			if hasSuffix(s.name, "weight") {
				kind, part = "weight", append(part, s.shape[1])
			}
			n := len(v) / 3
			for i, p := range []string{"q_proj", "k_proj", "v_proj"} {
				out = append(out, weights.F32Tensor(fmt.Sprintf("vision_model.encoder.layers.%s.self_attn.%s.%s", block, p, kind), part, v[i*n:(i+1)*n]))
			}
		case s.name == "proj":
			out = append(out, weights.F32Tensor(hfName(s.name), []int{s.shape[1], s.shape[0]}, transpose(v, s.shape[0], s.shape[1])))
		default:
			out = append(out, weights.F32Tensor(hfName(s.name), s.shape, v))
		}
	}
	return out, nil
}
