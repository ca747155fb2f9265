package vit

import (
	"fmt"
	"math"
	"strings"

	"github.com/umt-dev/umt/internal/splitmix"
	"github.com/umt-dev/umt/models"
)

// Param is one trainable tensor inside the model's flat parameter buffer (names such as
// "encoder.blocks.3.attn.qkv.weight"; the Conv3d's shape is [D, 3, tubelet, P, P]).
type Param = models.Param

// blockParams are the indices into the layout of one block's tensors.
type blockParams struct {
	norm1W, norm1B, qBias, vBias, qkvW, projW, projB, norm2W, norm2B, fc1W, fc1B, fc2W, fc2B int
}

type headParams struct{ w, b, normW, normB int }

// index locates every tensor of a config's layout.
type index struct {
	patchW, patchB int
	blocks         []blockParams
	normW, normB   int
	heads          []headParams
	poolW, poolB   int // stage 2 only
}

// officialOrder lists name and shape in the official state_dict order.
func officialOrder(c Config) []Param {
	D, H, C := c.Dim, c.Hidden(), c.ClipDim
	ps := []Param{
		{Name: "encoder.patch_embed.proj.weight", Shape: []int{D, 3, c.Tubelet, c.Patch, c.Patch}},
		{Name: "encoder.patch_embed.proj.bias", Shape: []int{D}},
	}
	for i := 0; i < c.Depth; i++ {
		p := fmt.Sprintf("encoder.blocks.%d.", i)
		ps = append(ps,
			Param{Name: p + "norm1.weight", Shape: []int{D}},
			Param{Name: p + "norm1.bias", Shape: []int{D}},
			Param{Name: p + "attn.q_bias", Shape: []int{D}},
			Param{Name: p + "attn.v_bias", Shape: []int{D}},
			Param{Name: p + "attn.qkv.weight", Shape: []int{3 * D, D}},
			Param{Name: p + "attn.proj.weight", Shape: []int{D, D}},
			Param{Name: p + "attn.proj.bias", Shape: []int{D}},
			Param{Name: p + "norm2.weight", Shape: []int{D}},
			Param{Name: p + "norm2.bias", Shape: []int{D}},
			Param{Name: p + "mlp.fc1.weight", Shape: []int{H, D}},
			Param{Name: p + "mlp.fc1.bias", Shape: []int{H}},
			Param{Name: p + "mlp.fc2.weight", Shape: []int{D, H}},
			Param{Name: p + "mlp.fc2.bias", Shape: []int{D}},
		)
	}
	ps = append(ps, Param{Name: "encoder.norm.weight", Shape: []int{D}}, Param{Name: "encoder.norm.bias", Shape: []int{D}})
	for k := 0; k < c.ReturnLayers; k++ {
		p := fmt.Sprintf("clip_decoder.%d.", k)
		ps = append(ps,
			Param{Name: p + "head.weight", Shape: []int{C, D}},
			Param{Name: p + "head.bias", Shape: []int{C}},
			Param{Name: p + "norm.weight", Shape: []int{C}},
			Param{Name: p + "norm.bias", Shape: []int{C}},
		)
	}
	if c.Stage2 {
		ps = append(ps, Param{Name: "pool_norm.weight", Shape: []int{D}}, Param{Name: "pool_norm.bias", Shape: []int{D}})
	}
	return ps
}

// layout returns the tensors in official order with offsets assigned group by group: all
// decayed tensors first (in official order), then all others.
func layout(c Config) []Param { return models.Layout(officialOrder(c)) }

func buildIndex(c Config, ps []Param) index {
	at := map[string]int{}
	for i, p := range ps {
		at[p.Name] = i
	}
	ix := index{patchW: at["encoder.patch_embed.proj.weight"], patchB: at["encoder.patch_embed.proj.bias"],
		normW: at["encoder.norm.weight"], normB: at["encoder.norm.bias"]}
	for i := 0; i < c.Depth; i++ {
		p := fmt.Sprintf("encoder.blocks.%d.", i)
		ix.blocks = append(ix.blocks, blockParams{
			norm1W: at[p+"norm1.weight"], norm1B: at[p+"norm1.bias"], qBias: at[p+"attn.q_bias"], vBias: at[p+"attn.v_bias"],
			qkvW: at[p+"attn.qkv.weight"], projW: at[p+"attn.proj.weight"], projB: at[p+"attn.proj.bias"],
			norm2W: at[p+"norm2.weight"], norm2B: at[p+"norm2.bias"], fc1W: at[p+"mlp.fc1.weight"], fc1B: at[p+"mlp.fc1.bias"],
			fc2W: at[p+"mlp.fc2.weight"], fc2B: at[p+"mlp.fc2.bias"],
		})
	}
	for k := 0; k < c.ReturnLayers; k++ {
		p := fmt.Sprintf("clip_decoder.%d.", k)
		ix.heads = append(ix.heads, headParams{w: at[p+"head.weight"], b: at[p+"head.bias"], normW: at[p+"norm.weight"], normB: at[p+"norm.bias"]})
	}
	if c.Stage2 {
		ix.poolW, ix.poolB = at["pool_norm.weight"], at["pool_norm.bias"]
	}
	return ix
}

// InitParams returns freshly initialised parameters in flat layout order, as the official
// _init_weights does (with our own seeded generator, not torch's): xavier_uniform for every
// Linear weight (the fused qkv as one [3D, D] matrix), zero Linear biases and q/v biases,
// LayerNorm weight 1 and bias 0, and PyTorch's default Conv3d init (kaiming_uniform with
// a = √5, i.e. U(±1/√fan_in) for weight and bias).
func InitParams(c Config, seed uint64) []float32 {
	ps := layout(c)
	flat := make([]float32, c.Params())
	r := newRNG(seed)
	for _, p := range ps {
		dst := flat[p.Off : p.Off+p.Len]
		switch {
		case p.Name == "encoder.patch_embed.proj.weight" || p.Name == "encoder.patch_embed.proj.bias":
			bound := 1 / math.Sqrt(float64(c.PatchDim()))
			for i := range dst {
				dst[i] = float32((2*r.Float64() - 1) * bound)
			}
		case strings.HasSuffix(p.Name, "norm1.weight"), strings.HasSuffix(p.Name, "norm2.weight"), strings.HasSuffix(p.Name, "norm.weight"):
			for i := range dst {
				dst[i] = 1
			}
		case len(p.Shape) == 2:
			bound := math.Sqrt(6 / float64(p.Shape[0]+p.Shape[1]))
			for i := range dst {
				dst[i] = float32((2*r.Float64() - 1) * bound)
			}
		}
	}
	return flat
}

// newRNG is the SplitMix64 stream of weight init and drop path: seedable and identical on
// every platform.
func newRNG(seed uint64) *splitmix.Source { return &splitmix.Source{State: seed ^ 0x6a09e667f3bcc909} }
