package bert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/umt-dev/umt/models/weights"
)

// UMTPrefix is the prefix of the text encoder's tensors in a UMT stage-2 state dict.
const UMTPrefix = "text_encoder."

// Source says which naming a state dict uses.
type Source int

const (
	// HF is a Hugging Face BERT checkpoint (BertForMaskedLM / BertForPreTraining / BertModel
	// names, "bert." optional, old "LayerNorm.gamma/beta" accepted). Tensors it lacks (the
	// cross-attention blocks, or the MLM head of a plain BertModel) are initialised as
	// BertPreTrainedModel._init_weights does; the extra ones (pooler, NSP head) are ignored.
	HF Source = iota
	// UMT is a UMT stage-2 state dict: text_encoder.* names, every tensor present, the tied
	// decoder stored once (text_encoder.cls.predictions.decoder.* are accepted and ignored).
	UMT
)

// ParamsFromState builds the flat parameter vector from a state dict. For HF, missing tensors
// are initialised from seed and listed in the second result.
func ParamsFromState(c Config, sd map[string]*weights.Tensor, src Source, seed uint64) ([]float32, []string, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	flat := make([]float32, c.NumParams())
	r := newRNG(seed)
	var initialised []string
	for _, p := range layout(c) {
		t, name := lookup(sd, p.Name, src)
		if t == nil {
			if src == UMT {
				return nil, nil, fmt.Errorf("bert: state dict has no %q; is it a UMT stage-2 checkpoint of this config?", UMTPrefix+p.Name)
			}
			if !strings.Contains(p.Name, ".crossattention.") && !strings.HasPrefix(p.Name, "cls.") {
				return nil, nil, fmt.Errorf("bert: Hugging Face state dict has no %q (or without \"bert.\"); is it a BERT checkpoint of this config?", p.Name)
			}
			initParam(flat[p.Off:p.Off+p.Len], p, r)
			initialised = append(initialised, p.Name)
			continue
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, nil, fmt.Errorf("bert: %q has shape %v, the config needs %v", name, t.Shape, p.Shape)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, nil, fmt.Errorf("bert: %s: %w", name, err)
		}
		copy(flat[p.Off:p.Off+p.Len], v)
	}
	return flat, initialised, nil
}

// lookup finds parameter name in sd under the source's naming.
func lookup(sd map[string]*weights.Tensor, name string, src Source) (*weights.Tensor, string) {
	if src == UMT {
		return sd[UMTPrefix+name], UMTPrefix + name
	}
	cands := []string{name}
	if s, ok := strings.CutPrefix(name, "bert."); ok {
		cands = append(cands, s)
	}
	for _, n := range slices.Clone(cands) {
		if s, ok := strings.CutSuffix(n, "LayerNorm.weight"); ok {
			cands = append(cands, s+"LayerNorm.gamma")
		}
		if s, ok := strings.CutSuffix(n, "LayerNorm.bias"); ok {
			cands = append(cands, s+"LayerNorm.beta")
		}
	}
	for _, n := range cands {
		if t := sd[n]; t != nil {
			return t, n
		}
	}
	return nil, name
}

// StateFromParams is the state dict of a flat vector in xbert's naming under prefix ("" for a
// BertForMaskedLM, UMTPrefix inside a UMT checkpoint), in official order, the tied decoder
// stored once as the word-embedding table (as the stage-2 reference files do).
func StateFromParams(c Config, flat []float32, prefix string) ([]weights.Tensor, error) {
	if len(flat) != c.NumParams() {
		return nil, fmt.Errorf("bert: %d values for a config with %d parameters", len(flat), c.NumParams())
	}
	var sd []weights.Tensor
	for _, p := range layout(c) {
		sd = append(sd, weights.F32Tensor(prefix+p.Name, slices.Clone(p.Shape), flat[p.Off:p.Off+p.Len]))
	}
	return sd, nil
}

// InferConfig reads the architecture from a state dict's shapes (HF or UMT naming); Heads,
// which shapes do not carry, is given (0 means Hidden/64, BERT's convention). fusion_layer is
// the first layer with cross-attention tensors (Layers when none has, as in a plain
// bert-base-uncased; pass the wanted value to WithFusion then).
func InferConfig(sd map[string]*weights.Tensor, src Source, heads int) (Config, error) {
	get := func(name string) (*weights.Tensor, error) {
		t, n := lookup(sd, name, src)
		if t == nil {
			return nil, fmt.Errorf("bert: cannot infer the architecture: no %q", n)
		}
		return t, nil
	}
	word, err := get("bert.embeddings.word_embeddings.weight")
	if err != nil {
		return Config{}, err
	}
	pos, err := get("bert.embeddings.position_embeddings.weight")
	if err != nil {
		return Config{}, err
	}
	typ, err := get("bert.embeddings.token_type_embeddings.weight")
	if err != nil {
		return Config{}, err
	}
	inter, err := get("bert.encoder.layer.0.intermediate.dense.weight")
	if err != nil {
		return Config{}, err
	}
	if len(word.Shape) != 2 || len(pos.Shape) != 2 || len(typ.Shape) != 2 || len(inter.Shape) != 2 {
		return Config{}, fmt.Errorf("bert: embedding or intermediate tensors are not 2-D")
	}
	c := Config{Vocab: word.Shape[0], Hidden: word.Shape[1], MaxPosition: pos.Shape[0], TypeVocab: typ.Shape[0],
		Intermediate: inter.Shape[0], Eps: 1e-12, Heads: heads}
	if c.Heads == 0 {
		c.Heads = max(1, c.Hidden/64)
	}
	c.FusionLayer = -1
	for l := 0; ; l++ {
		if t, _ := lookup(sd, "bert.encoder.layer."+strconv.Itoa(l)+".intermediate.dense.weight", src); t == nil {
			c.Layers = l
			break
		}
		if k, _ := lookup(sd, "bert.encoder.layer."+strconv.Itoa(l)+".crossattention.self.key.weight", src); k != nil {
			if c.FusionLayer < 0 {
				c.FusionLayer = l
			}
			if len(k.Shape) == 2 {
				c.EncoderWidth = k.Shape[1]
			}
		}
	}
	if c.FusionLayer < 0 {
		c.FusionLayer = c.Layers
	}
	return c, c.Validate()
}

// defaultFusion is UMT's fusion_layer for a plain BERT: 19 for bert-large's shape, else 9 (bert-base),
// at most the number of layers.
func defaultFusion(c Config) int {
	if c.Hidden == Large.Hidden && c.Layers == Large.Layers {
		return Large.FusionLayer
	}
	return min(Base.FusionLayer, c.Layers)
}

// LoadOptions complete a --text-encoder spec.
type LoadOptions struct {
	// FusionLayer and EncoderWidth are what UMT's builder sets on a plain BERT config (9 or 19,
	// and the vision width); zero keeps what the checkpoint or its config.json says.
	FusionLayer, EncoderWidth int
	// Heads is used when no config.json gives num_attention_heads; 0 means Hidden/64.
	Heads int
	// Eps overrides layer_norm_eps, which a state dict does not record (0: config.json's, else
	// BERT's 1e-12).
	Eps float64
	// Seed initialises the tensors a Hugging Face checkpoint lacks (the cross-attention).
	Seed uint64
	// Hub fetches hf:NAME specs; nil means the default hub and cache.
	Hub *weights.Hub
}

// Loaded is a resolved text encoder: its config, flat parameters and the tensors that were
// initialised rather than loaded.
type Loaded struct {
	Cfg         Config
	Flat        []float32
	Source      Source
	Initialised []string
}

// Load resolves a text-encoder spec:
//
//   - "hf:owner/name" (e.g. hf:bert-base-uncased): config.json and model.safetensors from the
//     hub cache, then as a directory;
//   - a directory holding config.json and model.safetensors (Hugging Face layout);
//   - a safetensors file: a UMT stage-2 checkpoint (text_encoder.* names) or a Hugging Face
//     BERT file, the architecture read from its shapes (and a config.json beside it, if any).
//
// A Hugging Face BERT gets FusionLayer (default UMT's: 9 for bert-base, 19 for bert-large) and EncoderWidth (default
// Hidden) from o, and fresh cross-attention weights (InitStd, seeded).
func Load(ctx context.Context, spec string, o LoadOptions) (*Loaded, error) {
	if name, ok := strings.CutPrefix(spec, "hf:"); ok {
		hub := o.Hub
		if hub == nil {
			hub = &weights.Hub{}
		}
		dir, err := hub.Fetch(ctx, name, "config.json", "model.safetensors")
		if err != nil {
			return nil, fmt.Errorf("text encoder %s: %w", spec, err)
		}
		spec = dir
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("text encoder %q: %w (want hf:owner/name, a Hugging Face model directory or a safetensors file)", spec, err)
	}
	path, cfgPath := spec, filepath.Join(filepath.Dir(spec), "config.json")
	if st.IsDir() {
		path, cfgPath = filepath.Join(spec, "model.safetensors"), filepath.Join(spec, "config.json")
	}
	f, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("text encoder %s: %w", path, err)
	}
	defer f.Close()
	src := HF
	if f.Get(UMTPrefix+"bert.embeddings.word_embeddings.weight") != nil {
		src = UMT
	}
	cfg, err := InferConfig(f.Tensors, src, o.Heads)
	if err != nil {
		return nil, fmt.Errorf("text encoder %s: %w", path, err)
	}
	data, cerr := os.ReadFile(cfgPath)
	if st.IsDir() && cerr != nil {
		return nil, fmt.Errorf("text encoder directory %s: %w (a Hugging Face model directory holds config.json and model.safetensors)", spec, cerr)
	}
	if cerr == nil && src == HF {
		if cfg, err = ConfigFromHF(data, cfg.FusionLayer, cfg.EncoderWidth); err != nil {
			return nil, fmt.Errorf("text encoder %s: %w", cfgPath, err)
		}
	}
	if src == HF {
		if cfg.FusionLayer == cfg.Layers { // a plain BERT: UMT's builder adds the fusion layers
			cfg.FusionLayer = defaultFusion(cfg)
		}
		if o.FusionLayer != 0 {
			cfg.FusionLayer = o.FusionLayer
		}
		if cfg.EncoderWidth == 0 {
			cfg.EncoderWidth = cfg.Hidden
		}
		if o.EncoderWidth != 0 {
			cfg.EncoderWidth = o.EncoderWidth
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("text encoder %s: %w", spec, err)
		}
	}
	if o.Eps != 0 {
		cfg.Eps = o.Eps
	}
	flat, initialised, err := ParamsFromState(cfg, f.Tensors, src, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("text encoder %s: %w", path, err)
	}
	return &Loaded{Cfg: cfg, Flat: flat, Source: src, Initialised: initialised}, nil
}
