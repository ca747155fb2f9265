package bert

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Config is the architecture of UMT's text/fusion encoder (xbert.py's BertConfig as UMT builds
// it). The JSON names are Hugging Face's config.json keys, plus xbert's fusion_layer and
// encoder_width.
type Config struct {
	Hidden       int     `json:"hidden_size"`             // H (768 base, 1024 large)
	Layers       int     `json:"num_hidden_layers"`       // L (12, 24)
	Heads        int     `json:"num_attention_heads"`     // (12, 16)
	Intermediate int     `json:"intermediate_size"`       // FFN width (3072, 4096)
	Vocab        int     `json:"vocab_size"`              // 30522 for the uncased vocab
	MaxPosition  int     `json:"max_position_embeddings"` // absolute position table rows (512)
	TypeVocab    int     `json:"type_vocab_size"`         // token-type rows (2); UMT only uses row 0
	Eps          float64 `json:"layer_norm_eps"`          // every LayerNorm (1e-12)
	// FusionLayer is the first layer with cross-attention: text mode runs [0, FusionLayer),
	// fusion mode [FusionLayer, Layers) (9 base, 19 large).
	FusionLayer int `json:"fusion_layer"`
	// EncoderWidth is the width of the vision tokens the cross-attention keys and values read
	// (the vision encoder's d_model: 768 for UMT-B, 1024 for UMT-L).
	EncoderWidth int `json:"encoder_width"`
}

// Presets: bert-base-uncased and bert-large-uncased as UMT's builder configures them
// (configs/config_bert*.json, fusion_layer 9 / 19, encoder_width = the student's width), and the
// tiny encoder of the stage-2 reference set.
var (
	Base  = Config{Hidden: 768, Layers: 12, Heads: 12, Intermediate: 3072, Vocab: 30522, MaxPosition: 512, TypeVocab: 2, Eps: 1e-12, FusionLayer: 9, EncoderWidth: 768}
	Large = Config{Hidden: 1024, Layers: 24, Heads: 16, Intermediate: 4096, Vocab: 30522, MaxPosition: 512, TypeVocab: 2, Eps: 1e-12, FusionLayer: 19, EncoderWidth: 1024}
	Tiny  = Config{Hidden: 32, Layers: 4, Heads: 4, Intermediate: 64, Vocab: 30522, MaxPosition: 64, TypeVocab: 2, Eps: 1e-12, FusionLayer: 2, EncoderWidth: 48}
)

// Preset returns a named preset: "bert-base" (or bert-base-uncased), "bert-large"
// (bert-large-uncased) or "tiny".
func Preset(name string) (Config, error) {
	switch name {
	case "bert-base", "bert-base-uncased", "base":
		return Base, nil
	case "bert-large", "bert-large-uncased", "large":
		return Large, nil
	case "tiny":
		return Tiny, nil
	}
	return Config{}, fmt.Errorf("bert: unknown preset %q (want bert-base, bert-large or tiny)", name)
}

// Validate reports the first inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.Hidden <= 0 || c.Heads <= 0 || c.Hidden%c.Heads != 0:
		return fmt.Errorf("bert: hidden_size %d must be a positive multiple of num_attention_heads %d", c.Hidden, c.Heads)
	case c.Layers <= 0 || c.Intermediate <= 0 || c.Vocab <= 0 || c.MaxPosition <= 0 || c.TypeVocab <= 0:
		return fmt.Errorf("bert: num_hidden_layers %d, intermediate_size %d, vocab_size %d, max_position_embeddings %d and type_vocab_size %d must be positive",
			c.Layers, c.Intermediate, c.Vocab, c.MaxPosition, c.TypeVocab)
	case c.FusionLayer < 0 || c.FusionLayer > c.Layers:
		return fmt.Errorf("bert: fusion_layer %d must lie in [0, num_hidden_layers=%d]", c.FusionLayer, c.Layers)
	case c.FusionLayer < c.Layers && c.EncoderWidth <= 0:
		return fmt.Errorf("bert: encoder_width %d must be positive when layers [%d, %d) have cross-attention", c.EncoderWidth, c.FusionLayer, c.Layers)
	case !(c.Eps > 0):
		return fmt.Errorf("bert: layer_norm_eps %v must be positive", c.Eps)
	}
	return nil
}

// HeadDim is Hidden / Heads.
func (c Config) HeadDim() int { return c.Hidden / c.Heads }

// Cross reports whether layer l has a cross-attention block (l >= FusionLayer).
func (c Config) Cross(l int) bool { return l >= c.FusionLayer }

// TextLayers are the layers text mode runs, [0, FusionLayer); FusionLayers the ones fusion mode
// runs, [FusionLayer, Layers), each with cross-attention.
func (c Config) TextLayers() []int { return span(0, c.FusionLayer) }

// FusionLayers: see TextLayers.
func (c Config) FusionLayers() []int { return span(c.FusionLayer, c.Layers) }

func span(lo, hi int) []int {
	var out []int
	for l := lo; l < hi; l++ {
		out = append(out, l)
	}
	return out
}

// hfConfig is the part of a Hugging Face BERT config.json that decides the architecture; the
// fields that would change the computation beyond Config are checked, the rest ignored.
type hfConfig struct {
	Config
	HiddenAct    string  `json:"hidden_act"`
	PosType      string  `json:"position_embedding_type"`
	ModelType    string  `json:"model_type"`
	HiddenDrop   float64 `json:"hidden_dropout_prob"`
	AttnDrop     float64 `json:"attention_probs_dropout_prob"`
	ChunkFF      int     `json:"chunk_size_feed_forward"`
	AddCrossAttn bool    `json:"add_cross_attention"`
}

// ConfigFromHF reads a Hugging Face BERT config.json (bert-base-uncased's, or UMT's
// configs/config_bert*.json). fusion_layer and encoder_width, which plain Hugging Face configs
// lack, come from defaults unless the file sets them: fusionLayer and encoderWidth (UMT's
// builder sets them from its model config). type_vocab_size defaults to 2 and layer_norm_eps to
// 1e-12. Only hidden_act "gelu" (exact erf) and absolute positions are supported; dropout is
// not applied (UMT's stage-2 references run without it), so a config is read whatever it says.
func ConfigFromHF(data []byte, fusionLayer, encoderWidth int) (Config, error) {
	h := hfConfig{Config: Config{TypeVocab: 2, Eps: 1e-12, FusionLayer: -1}}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&h); err != nil {
		return Config{}, fmt.Errorf("bert: config.json: %w", err)
	}
	if h.ModelType != "" && h.ModelType != "bert" {
		return Config{}, fmt.Errorf("bert: config.json has model_type %q, want bert", h.ModelType)
	}
	if h.HiddenAct != "" && h.HiddenAct != "gelu" {
		return Config{}, fmt.Errorf("bert: config.json hidden_act %q: only the exact erf \"gelu\" of bert-base/large-uncased is supported", h.HiddenAct)
	}
	if h.PosType != "" && h.PosType != "absolute" {
		return Config{}, fmt.Errorf("bert: config.json position_embedding_type %q: only \"absolute\" is supported", h.PosType)
	}
	c := h.Config
	if c.FusionLayer < 0 {
		c.FusionLayer = fusionLayer
	}
	if c.EncoderWidth == 0 {
		c.EncoderWidth = encoderWidth
	}
	return c, c.Validate()
}
