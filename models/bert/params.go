package bert

import (
	"fmt"
	"math"
	"strings"

	"github.com/umt-dev/umt/internal/splitmix"
	"github.com/umt-dev/umt/models"
)

// Param is one trainable tensor inside the model's flat parameter buffer, named as xbert's
// BertForMaskedLM state dict, e.g. "bert.encoder.layer.3.attention.self.query.weight".
type Param = models.Param

// attnParams locates one attention block (self or cross). The flat layout keeps the query, key
// and value weights adjacent (decayed group, official order) and so their biases (the other
// group), so qkv is one packed [3H, H] matrix with a [3H] bias for self-attention, and key/value
// one [2H, EncoderWidth] matrix with a [2H] bias for cross-attention.
type attnParams struct {
	qW, qB, kW, kB, vW, vB, oW, oB, lnW, lnB int
}

type layerParams struct {
	self, cross    attnParams
	hasCross       bool
	inW, inB       int // intermediate.dense
	outW, outB     int // output.dense
	outLnW, outLnB int // output.LayerNorm
}

type index struct {
	word, pos, typ, embLnW, embLnB int
	layers                         []layerParams
	clsBias, clsW, clsB            int // cls.predictions.bias, transform.dense.{weight,bias}
	clsLnW, clsLnB                 int
}

func attnNames(p string, in int, h int) []Param {
	return []Param{
		{Name: p + "self.query.weight", Shape: []int{h, h}}, {Name: p + "self.query.bias", Shape: []int{h}},
		{Name: p + "self.key.weight", Shape: []int{h, in}}, {Name: p + "self.key.bias", Shape: []int{h}},
		{Name: p + "self.value.weight", Shape: []int{h, in}}, {Name: p + "self.value.bias", Shape: []int{h}},
		{Name: p + "output.dense.weight", Shape: []int{h, h}}, {Name: p + "output.dense.bias", Shape: []int{h}},
		{Name: p + "output.LayerNorm.weight", Shape: []int{h}}, {Name: p + "output.LayerNorm.bias", Shape: []int{h}},
	}
}

// officialOrder lists name and shape in xbert's named_parameters order (BertForMaskedLM with
// add_pooling_layer=False; the decoder weight is the word-embedding table and its bias is
// cls.predictions.bias, so neither is listed again).
func officialOrder(c Config) []Param {
	H, I := c.Hidden, c.Intermediate
	ps := []Param{
		{Name: "bert.embeddings.word_embeddings.weight", Shape: []int{c.Vocab, H}},
		{Name: "bert.embeddings.position_embeddings.weight", Shape: []int{c.MaxPosition, H}},
		{Name: "bert.embeddings.token_type_embeddings.weight", Shape: []int{c.TypeVocab, H}},
		{Name: "bert.embeddings.LayerNorm.weight", Shape: []int{H}},
		{Name: "bert.embeddings.LayerNorm.bias", Shape: []int{H}},
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("bert.encoder.layer.%d.", l)
		ps = append(ps, attnNames(p+"attention.", H, H)...)
		if c.Cross(l) {
			ps = append(ps, attnNames(p+"crossattention.", c.EncoderWidth, H)...)
		}
		ps = append(ps,
			Param{Name: p + "intermediate.dense.weight", Shape: []int{I, H}}, Param{Name: p + "intermediate.dense.bias", Shape: []int{I}},
			Param{Name: p + "output.dense.weight", Shape: []int{H, I}}, Param{Name: p + "output.dense.bias", Shape: []int{H}},
			Param{Name: p + "output.LayerNorm.weight", Shape: []int{H}}, Param{Name: p + "output.LayerNorm.bias", Shape: []int{H}},
		)
	}
	ps = append(ps,
		Param{Name: "cls.predictions.bias", Shape: []int{c.Vocab}},
		Param{Name: "cls.predictions.transform.dense.weight", Shape: []int{H, H}},
		Param{Name: "cls.predictions.transform.dense.bias", Shape: []int{H}},
		Param{Name: "cls.predictions.transform.LayerNorm.weight", Shape: []int{H}},
		Param{Name: "cls.predictions.transform.LayerNorm.bias", Shape: []int{H}},
	)
	return ps
}

// layout assigns offsets group by group (models.Layout): every decayed tensor first, then the
// rest, so each optimiser group is one contiguous range.
func layout(c Config) []Param { return models.Layout(officialOrder(c)) }

// NumParams is the number of parameter values of a config.
func (c Config) NumParams() int {
	n := 0
	for _, p := range layout(c) {
		n += p.Len
	}
	return n
}

func buildIndex(c Config, ps []Param) (index, error) {
	at := map[string]int{}
	for i, p := range ps {
		at[p.Name] = i
	}
	ix := index{word: at["bert.embeddings.word_embeddings.weight"], pos: at["bert.embeddings.position_embeddings.weight"],
		typ: at["bert.embeddings.token_type_embeddings.weight"], embLnW: at["bert.embeddings.LayerNorm.weight"],
		embLnB: at["bert.embeddings.LayerNorm.bias"], clsBias: at["cls.predictions.bias"],
		clsW: at["cls.predictions.transform.dense.weight"], clsB: at["cls.predictions.transform.dense.bias"],
		clsLnW: at["cls.predictions.transform.LayerNorm.weight"], clsLnB: at["cls.predictions.transform.LayerNorm.bias"]}
	attn := func(p string) attnParams {
		return attnParams{qW: at[p+"self.query.weight"], qB: at[p+"self.query.bias"], kW: at[p+"self.key.weight"], kB: at[p+"self.key.bias"],
			vW: at[p+"self.value.weight"], vB: at[p+"self.value.bias"], oW: at[p+"output.dense.weight"], oB: at[p+"output.dense.bias"],
			lnW: at[p+"output.LayerNorm.weight"], lnB: at[p+"output.LayerNorm.bias"]}
	}
	adjacent := func(i, j int) error {
		if ps[i].Off+ps[i].Len != ps[j].Off {
			return fmt.Errorf("bert: layout does not pack %s and %s", ps[i].Name, ps[j].Name)
		}
		return nil
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("bert.encoder.layer.%d.", l)
		lp := layerParams{self: attn(p + "attention."), hasCross: c.Cross(l),
			inW: at[p+"intermediate.dense.weight"], inB: at[p+"intermediate.dense.bias"],
			outW: at[p+"output.dense.weight"], outB: at[p+"output.dense.bias"],
			outLnW: at[p+"output.LayerNorm.weight"], outLnB: at[p+"output.LayerNorm.bias"]}
		pairs := [][2]int{{lp.self.qW, lp.self.kW}, {lp.self.kW, lp.self.vW}, {lp.self.qB, lp.self.kB}, {lp.self.kB, lp.self.vB}}
		if lp.hasCross {
			lp.cross = attn(p + "crossattention.")
			pairs = append(pairs, [2]int{lp.cross.kW, lp.cross.vW}, [2]int{lp.cross.kB, lp.cross.vB})
		}
		for _, pr := range pairs {
			if err := adjacent(pr[0], pr[1]); err != nil {
				return index{}, err
			}
		}
		ix.layers = append(ix.layers, lp)
	}
	return ix, nil
}

// InitStd is the standard deviation of BertPreTrainedModel._init_weights' normal init
// (initializer_range 0.02).
const InitStd = 0.02

// InitParams returns freshly initialised parameters in flat layout order as
// BertPreTrainedModel._init_weights does (with our own seeded generator, not torch's): every
// Linear weight and embedding table N(0, 0.02²), Linear biases and cls.predictions.bias 0,
// LayerNorm weight 1 and bias 0.
func InitParams(c Config, seed uint64) []float32 {
	ps := layout(c)
	flat := make([]float32, c.NumParams())
	r := newRNG(seed)
	for _, p := range ps {
		initParam(flat[p.Off:p.Off+p.Len], p, r)
	}
	return flat
}

func initParam(dst []float32, p Param, r *rng) {
	switch {
	case strings.HasSuffix(p.Name, "LayerNorm.weight"):
		for i := range dst {
			dst[i] = 1
		}
	case len(p.Shape) == 2:
		for i := range dst {
			dst[i] = float32(InitStd * r.normal())
		}
	default:
		clear(dst)
	}
}

// rng draws normals by Box–Muller from internal/splitmix: seedable, identical on every platform.
type rng struct {
	src   splitmix.Source
	spare float64
	has   bool
}

func newRNG(seed uint64) *rng { return &rng{src: splitmix.Source{State: seed}} }

func (r *rng) normal() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	u, v := 1-r.src.Float64(), r.src.Float64() // u in (0, 1]
	rad := math.Sqrt(-2 * math.Log(u))
	r.spare, r.has = rad*math.Sin(2*math.Pi*v), true
	return rad * math.Cos(2*math.Pi*v)
}
