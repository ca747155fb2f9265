package multimodal

import (
	"fmt"
	"math"
	"strings"

	"github.com/umt-dev/umt/internal/splitmix"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/umt"
	"github.com/umt-dev/umt/models/vit"
)

// Config is the stage-2 model (umt.py's UMT without the CLIP teacher, whose features come from
// the shards): the vision encoder, the text/fusion encoder, the contrastive width and the
// loss options.
type Config struct {
	Vision   vit.Config  `json:"vision"` // Stage2 set
	Text     bert.Config `json:"text"`   // EncoderWidth = Vision.Dim
	EmbedDim int         `json:"embed_dim"`
	TempInit float64     `json:"temp_init"`        // 0.07
	MLMProb  float64     `json:"mlm_masking_prob"` // 0.5
}

// Temperature bounds: temp is clamped in place to [TempMin, TempMax] at every forward
// (umt.py:226-229).
const (
	TempMin = 0.001
	TempMax = 0.5
)

// Validate reports the first inconsistent field.
func (c Config) Validate() error {
	if !c.Vision.Stage2 {
		return fmt.Errorf("multimodal: the vision encoder must be the stage-2 variant (vision.stage2 true)")
	}
	if err := c.Vision.Validate(); err != nil {
		return err
	}
	if err := c.Text.Validate(); err != nil {
		return err
	}
	switch {
	case c.Text.EncoderWidth != c.Vision.Dim:
		return fmt.Errorf("multimodal: text.encoder_width %d must equal the vision dim %d (the fusion layers attend to vision tokens)", c.Text.EncoderWidth, c.Vision.Dim)
	case c.Text.FusionLayer >= c.Text.Layers:
		return fmt.Errorf("multimodal: text.fusion_layer %d leaves no fusion layers of %d; VTM and MLM need them", c.Text.FusionLayer, c.Text.Layers)
	case c.EmbedDim <= 0:
		return fmt.Errorf("multimodal: embed_dim %d must be positive", c.EmbedDim)
	case !(c.TempInit >= TempMin && c.TempInit <= TempMax):
		return fmt.Errorf("multimodal: temp_init %v must lie in [%g, %g]", c.TempInit, TempMin, TempMax)
	case !(c.MLMProb > 0 && c.MLMProb < 1):
		return fmt.Errorf("multimodal: mlm_masking_prob %v must lie in (0, 1)", c.MLMProb)
	}
	return nil
}

// Param is one tensor of the heads' flat buffer (vision_proj, text_proj, itm_head, temp).
type Param struct {
	Name  string // official name, e.g. "vision_proj.weight"; temp is 0-d ([] shape)
	Shape []int
	Decay bool // UMT's grouping: ≥2-D or 0-d (temp) and not ".bias"
	Off   int
	Len   int
}

// headIndex locates the heads in their flat buffer.
type headIndex struct{ vpW, vpB, tpW, tpB, itmW, itmB, temp int }

// headLayout is temp, vision_proj, text_proj, itm_head in official order (UMT.named_parameters
// puts temp first), offsets assigned decayed-first.
func headLayout(c Config) []Param {
	E, D, H := c.EmbedDim, c.Vision.Dim, c.Text.Hidden
	ps := []Param{
		{Name: "temp", Shape: []int{}},
		{Name: "vision_proj.weight", Shape: []int{E, D}}, {Name: "vision_proj.bias", Shape: []int{E}},
		{Name: "text_proj.weight", Shape: []int{E, H}}, {Name: "text_proj.bias", Shape: []int{E}},
		{Name: "itm_head.weight", Shape: []int{2, H}}, {Name: "itm_head.bias", Shape: []int{2}},
	}
	for i := range ps {
		ps[i].Len = 1
		for _, d := range ps[i].Shape {
			ps[i].Len *= d
		}
		// utils/optimizer.py: no decay for len(shape) == 1 or ".bias"; the 0-d temp is decayed.
		ps[i].Decay = len(ps[i].Shape) != 1 && !strings.HasSuffix(ps[i].Name, ".bias")
	}
	off := 0
	for _, decay := range []bool{true, false} {
		for i := range ps {
			if ps[i].Decay == decay {
				ps[i].Off = off
				off += ps[i].Len
			}
		}
	}
	return ps
}

func buildHeadIndex(ps []Param) headIndex {
	at := map[string]int{}
	for i, p := range ps {
		at[p.Name] = i
	}
	return headIndex{vpW: at["vision_proj.weight"], vpB: at["vision_proj.bias"], tpW: at["text_proj.weight"], tpB: at["text_proj.bias"],
		itmW: at["itm_head.weight"], itmB: at["itm_head.bias"], temp: at["temp"]}
}

// HeadParams is the number of values in the heads' flat buffer.
func (c Config) HeadParams() int {
	n := 0
	for _, p := range headLayout(c) {
		n += p.Len
	}
	return n
}

// Model is the stage-2 model on one backend: the vision encoder, the text/fusion encoder and
// the heads, each with its flat parameter and gradient buffers (so one optimiser group pair
// per part).
type Model struct {
	Cfg    Config
	Vision *vit.Model
	Text   *bert.Model
	// Specials are the tokenizer ids MLM masking reads (umt.BertUncased unless set).
	Specials umt.Specials
	be       kernels.Trainer
	heads    []Param
	hx       headIndex
	w, g     kernels.Buf // heads' flat parameters and gradients
}

// Flat are the three parts' parameters in their layouts (vit, bert and the heads).
type Flat struct {
	Vision, Text, Heads []float32
}

// New builds the model from flat parameters.
func New(be kernels.Trainer, cfg Config, p Flat) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(p.Heads) != cfg.HeadParams() {
		return nil, fmt.Errorf("multimodal: %d head values, the config has %d", len(p.Heads), cfg.HeadParams())
	}
	m := &Model{Cfg: cfg, be: be, heads: headLayout(cfg), Specials: umt.BertUncased}
	m.hx = buildHeadIndex(m.heads)
	var err error
	if m.Vision, err = vit.New(be, cfg.Vision, p.Vision); err != nil {
		return nil, err
	}
	if m.Text, err = bert.New(be, cfg.Text, p.Text); err != nil {
		m.Vision.Close()
		return nil, err
	}
	m.w, m.g = be.Alloc(len(p.Heads)), be.Alloc(len(p.Heads))
	be.Upload(m.w, p.Heads)
	if err := be.Sync(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close frees every buffer of the three parts.
func (m *Model) Close() {
	if m.Vision != nil {
		m.Vision.Close()
	}
	if m.Text != nil {
		m.Text.Close()
	}
	for _, b := range []*kernels.Buf{&m.w, &m.g} {
		if !b.IsZero() {
			m.be.Free(*b)
			*b = kernels.Buf{}
		}
	}
}

// HeadParamList lists the heads' tensors with their offsets in HeadWeights/HeadGrads.
func (m *Model) HeadParamList() []Param { return m.heads }

// HeadWeights is the heads' flat parameter buffer; HeadGrads its gradients.
func (m *Model) HeadWeights() kernels.Buf { return m.w }

// HeadGrads is the heads' flat gradient buffer.
func (m *Model) HeadGrads() kernels.Buf { return m.g }

// ZeroGrads clears the gradients of all three parts.
func (m *Model) ZeroGrads() {
	m.Vision.ZeroGrads()
	m.Text.ZeroGrads()
	m.be.Fill(m.g, 0)
}

func (m *Model) hw(i int) kernels.Buf { return m.w.View(m.heads[i].Off, m.heads[i].Len) }
func (m *Model) hg(i int) kernels.Buf { return m.g.View(m.heads[i].Off, m.heads[i].Len) }

// InitHeads returns the heads' initial values: temp = TempInit and the Linear layers as
// PyTorch's default nn.Linear init (kaiming_uniform a=√5: U(±1/√fan_in) for weight and bias),
// from a seeded SplitMix64 stream.
func InitHeads(c Config, seed uint64) []float32 {
	ps := headLayout(c)
	flat := make([]float32, c.HeadParams())
	r := &splitmix.Source{State: seed ^ 0x3c6ef372fe94f82b}
	for _, p := range ps {
		dst := flat[p.Off : p.Off+p.Len]
		if p.Name == "temp" {
			dst[0] = float32(c.TempInit)
			continue
		}
		fanIn := c.Vision.Dim
		if !strings.HasPrefix(p.Name, "vision_proj") {
			fanIn = c.Text.Hidden
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		for i := range dst {
			dst[i] = float32((2*r.Float64() - 1) * bound)
		}
	}
	return flat
}

// Embeddings are the evaluation-path outputs of a batch (umt.py encode_vision(test=True),
// encode_text and the projections, as tasks/retrieval_utils.py uses them).
type Embeddings struct {
	Tokens []float32 // vision: [B·N, D] all tokens after the final norm (the ITM memory); text: [B·L, H]
	Pooled []float32 // vision: [B·P, D] pool_norm of per-frame means (keep_temporal); text: [B, H] the CLS rows
	Proj   []float32 // [B·P, E] vision_proj, or [B, E] text_proj
}

// EmbedVision runs the encoder without a mask or drop path on b (every token, KeepTemporal for
// per-frame vectors as the retrieval evaluation does) and projects the pooled vectors.
func (m *Model) EmbedVision(b vit.Batch) (Embeddings, error) {
	if err := m.Vision.Forward(b, false, 0); err != nil {
		return Embeddings{}, err
	}
	c := m.Cfg
	rows := m.Vision.Pooled().Len() / c.Vision.Dim
	proj := m.be.Alloc(rows * c.EmbedDim)
	defer m.be.Free(proj)
	models.Linear(m.be, proj, m.Vision.Pooled(), m.hw(m.hx.vpW), m.hw(m.hx.vpB), rows, c.Vision.Dim, c.EmbedDim)
	var e Embeddings
	var err error
	for _, x := range []struct {
		dst *[]float32
		src kernels.Buf
	}{{&e.Tokens, m.Vision.VisionEmbeds()}, {&e.Pooled, m.Vision.Pooled()}, {&e.Proj, proj}} {
		*x.dst = make([]float32, x.src.Len())
		if err = m.be.Download(*x.dst, x.src); err != nil {
			return Embeddings{}, err
		}
	}
	return e, nil
}

// EmbedText runs text mode on B captions of L tokens and projects their CLS rows.
func (m *Model) EmbedText(ids, mask []int32, B, L int) (Embeddings, error) {
	c := m.Cfg
	H, E := c.Text.Hidden, c.EmbedDim
	tp, err := m.Text.Text(bert.Text{B: B, L: L, IDs: ids, Mask: mask})
	if err != nil {
		return Embeddings{}, err
	}
	defer tp.Close()
	e := Embeddings{Tokens: make([]float32, B*L*H)}
	if err := m.be.Download(e.Tokens, tp.Out()); err != nil {
		return Embeddings{}, err
	}
	for b := 0; b < B; b++ {
		e.Pooled = append(e.Pooled, e.Tokens[b*L*H:b*L*H+H]...)
	}
	cls, proj := m.be.Alloc(B*H), m.be.Alloc(B*E)
	defer m.be.Free(cls)
	defer m.be.Free(proj)
	m.be.Upload(cls, e.Pooled)
	models.Linear(m.be, proj, cls, m.hw(m.hx.tpW), m.hw(m.hx.tpB), B, H, E)
	e.Proj = make([]float32, B*E)
	return e, m.be.Download(e.Proj, proj)
}
