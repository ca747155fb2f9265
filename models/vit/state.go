package vit

import (
	"fmt"
	"slices"
	"sort"

	"github.com/umt-dev/umt/models/weights"
)

// ParamsFromState builds the flat parameter vector from a state dict in the official naming
// (encoder.*, clip_decoder.*; a "module." or "model." prefix is not accepted: strip it first).
// Every parameter must be present with its official shape and a float dtype (F32, or F16/BF16/F64
// converted); const.* tables and unknown keys are ignored; the sinusoid tables are computed,
// never loaded. sd is usually a [weights.File]'s Tensors.
func ParamsFromState(c Config, sd map[string]*weights.Tensor) ([]float32, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	flat := make([]float32, c.Params())
	for _, p := range layout(c) {
		t, ok := sd[p.Name]
		if !ok || t == nil {
			return nil, fmt.Errorf("vit: state dict has no %q; is it a UMT stage-1 student of this config?", p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("vit: %q has shape %v, the config needs %v", p.Name, t.Shape, p.Shape)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("vit: %w", err)
		}
		copy(flat[p.Off:p.Off+p.Len], v)
	}
	return flat, nil
}

// StateFromParams is the inverse of ParamsFromState: the official state dict of a flat vector.
// Mapping (ours → official): the flat buffer holds each tensor exactly in the official layout
// and shape, so export is a copy per name; nothing is transposed. The Conv3d weight is
// [D, 3, tubelet, P, P] and our patch GEMM reads it as [D, 3·tubelet·P·P]; qkv.weight is the
// fused [3D, D] (rows q, k, v); the sinusoid tables are not part of the state dict, as in the
// official model. The tensors come in state-dict order (StateNames) as F32.
func StateFromParams(c Config, flat []float32) ([]weights.Tensor, error) {
	if len(flat) != c.Params() {
		return nil, fmt.Errorf("vit: %d values for a config with %d parameters", len(flat), c.Params())
	}
	var sd []weights.Tensor
	for _, p := range layout(c) { // state-dict order, with offsets
		sd = append(sd, weights.F32Tensor(p.Name, append([]int(nil), p.Shape...), flat[p.Off:p.Off+p.Len]))
	}
	return sd, nil
}

// StateNames lists the official names in state-dict order.
func StateNames(c Config) []string {
	var out []string
	for _, p := range officialOrder(c) {
		out = append(out, p.Name)
	}
	return out
}

// EncodeState is the student as a safetensors state dict in the official naming, loadable with
// `PretrainVisionTransformer.load_state_dict(safetensors.torch.load_file(path))`; the caller
// writes the bytes (atomically, e.g. with transforms/storage.WriteFile).
func EncodeState(c Config, flat []float32, meta map[string]string) ([]byte, error) {
	sd, err := StateFromParams(c, flat)
	if err != nil {
		return nil, err
	}
	return weights.Marshal(sd, meta)
}

// Patchify gathers the visible patches of one clip into rows of the Conv3d's fan-in order:
// video is [3, Frames, H, W] (channels first, as the model's input), tokens ascending token
// indices; row i is [3, Tubelet, P, P] flattened for token tokens[i].
func Patchify(c Config, video []float32, tokens []int32) ([]float32, error) {
	return PatchifyFrames(c, video, c.Frames, tokens)
}

// PatchifyFrames is Patchify for a clip of T frames (1 for a stage-2 image batch).
func PatchifyFrames(c Config, video []float32, T int, tokens []int32) ([]float32, error) {
	H := c.ImgSize
	if T <= 0 || T%c.Tubelet != 0 || len(video) != 3*T*H*H {
		return nil, fmt.Errorf("vit: video has %d values, want 3·%d·%d·%d with %d frames a multiple of tubelet %d", len(video), T, H, H, T, c.Tubelet)
	}
	P, G, tub, hw := c.Patch, c.Grid(), c.Tubelet, c.HW()
	pd := c.PatchDim()
	n := T / tub * hw
	out := make([]float32, len(tokens)*pd)
	for i, tok := range tokens {
		if tok < 0 || int(tok) >= n {
			return nil, fmt.Errorf("vit: token %d outside [0, %d)", tok, n)
		}
		s, p := int(tok)/hw, int(tok)%hw
		gh, gw := p/G, p%G
		row := out[i*pd : (i+1)*pd]
		j := 0
		for ch := 0; ch < 3; ch++ {
			for dt := 0; dt < tub; dt++ {
				f := s*tub + dt
				for ph := 0; ph < P; ph++ {
					base := ((ch*T+f)*H+gh*P+ph)*H + gw*P
					copy(row[j:j+P], video[base:base+P])
					j += P
				}
			}
		}
	}
	return out, nil
}

// SortedTokens returns a sorted copy of token indices (the official x[~mask] order).
func SortedTokens(t []int32) []int32 {
	out := append([]int32(nil), t...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
