package vit

import (
	"fmt"

	"github.com/umt-dev/umt/models"
)

// Config is the student's architecture. The JSON names are those of the training config files.
type Config struct {
	ImgSize      int `json:"img_size"`      // input H = W (224)
	Patch        int `json:"patch"`         // spatial patch (16)
	Frames       int `json:"frames"`        // T (8)
	Tubelet      int `json:"tubelet"`       // temporal patch (1 in UMT's scripts)
	Dim          int `json:"dim"`           // D (768 for B/16)
	Depth        int `json:"depth"`         // blocks (12)
	Heads        int `json:"heads"`         // heads (12)
	MLPRatio     int `json:"mlp_ratio"`     // hidden = Dim·MLPRatio (4)
	ClipDim      int `json:"clip_dim"`      // C_clip, the teacher's output dim (512)
	ReturnLayers int `json:"return_layers"` // K, blocks aligned with the teacher's K layers (6)
	// ReturnInterval spaces the aligned blocks counted from the last
	// (clip_student_return_interval, a float in the official code; models.ReturnedBlocks);
	// 0 means 1, the recipe's value: the last K blocks.
	ReturnInterval float64 `json:"return_interval,omitempty"`
	DropPath       float64 `json:"drop_path"` // stochastic depth at the last block (0.1)
	// Stage2 makes this the vision encoder of UMT's stage 2 (multi_modality vit.py) instead of
	// the stage-1 student: a pool_norm LayerNorm (eps 1e-6) over mean-pooled final-norm tokens,
	// decoder LayerNorms with PyTorch's default eps 1e-5, and no L2 inside the decoders (the UTA
	// loss normalises instead, which is the same arithmetic).
	Stage2 bool `json:"stage2,omitempty"`
}

// Presets: UMT-B/16 and UMT-L/16 as in modeling_pretrain_umt.py and the launch scripts, and the
// reference set's tiny student for CPU smoke runs.
var (
	Base16  = Config{ImgSize: 224, Patch: 16, Frames: 8, Tubelet: 1, Dim: 768, Depth: 12, Heads: 12, MLPRatio: 4, ClipDim: 512, ReturnLayers: 6, DropPath: 0.1}
	Large16 = Config{ImgSize: 224, Patch: 16, Frames: 8, Tubelet: 1, Dim: 1024, Depth: 24, Heads: 16, MLPRatio: 4, ClipDim: 768, ReturnLayers: 6, DropPath: 0.2}
	Tiny    = Config{ImgSize: 64, Patch: 16, Frames: 4, Tubelet: 1, Dim: 48, Depth: 3, Heads: 4, MLPRatio: 4, ClipDim: 32, ReturnLayers: 2, DropPath: 0}
)

// Validate reports the first inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.ImgSize <= 0 || c.Patch <= 0 || c.ImgSize%c.Patch != 0:
		return fmt.Errorf("vit: img_size %d must be a positive multiple of patch %d", c.ImgSize, c.Patch)
	case c.Tubelet <= 0 || c.Frames <= 0 || c.Frames%c.Tubelet != 0:
		return fmt.Errorf("vit: frames %d must be a positive multiple of tubelet %d", c.Frames, c.Tubelet)
	case c.Dim <= 0 || c.Heads <= 0 || c.Dim%c.Heads != 0:
		return fmt.Errorf("vit: dim %d must be a positive multiple of heads %d", c.Dim, c.Heads)
	case c.Depth <= 0 || c.MLPRatio <= 0 || c.ClipDim <= 0:
		return fmt.Errorf("vit: depth, mlp_ratio and clip_dim must be positive (got %d, %d, %d)", c.Depth, c.MLPRatio, c.ClipDim)
	case c.ReturnLayers <= 0 || c.ReturnLayers > c.Depth:
		return fmt.Errorf("vit: return_layers %d must lie in [1, depth=%d]", c.ReturnLayers, c.Depth)
	case !(c.DropPath >= 0 && c.DropPath < 1):
		return fmt.Errorf("vit: drop_path %v must lie in [0, 1)", c.DropPath)
	}
	if _, err := models.ReturnedBlocks(c.Depth, c.ReturnLayers, c.interval()); err != nil {
		return fmt.Errorf("vit: return_layers/return_interval: %w", err)
	}
	return nil
}

// DecoderEps is the LayerNorm eps of the alignment heads: 1e-6 in stage 1, nn.LayerNorm's
// default 1e-5 in stage 2 (UMT.md §9 quirk 8).
func (c Config) DecoderEps() float32 {
	if c.Stage2 {
		return 1e-5
	}
	return Eps
}

// Grid is the number of patches along H (and W).
func (c Config) Grid() int { return c.ImgSize / c.Patch }

// HW is the number of patches per time slice.
func (c Config) HW() int { return c.Grid() * c.Grid() }

// Slices is the number of time slices, Frames/Tubelet.
func (c Config) Slices() int { return c.Frames / c.Tubelet }

// Tokens is the number of tokens of a full clip (1568 for B/16).
func (c Config) Tokens() int { return c.Slices() * c.HW() }

// PatchDim is the length of one flattened patch, 3·Tubelet·Patch² (the Conv3d fan-in).
func (c Config) PatchDim() int { return 3 * c.Tubelet * c.Patch * c.Patch }

// Hidden is the MLP width.
func (c Config) Hidden() int { return c.Dim * c.MLPRatio }

// HeadDim is Dim/Heads.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// ReturnIndex lists the aligned blocks in ascending order, the order of the outputs' first axis
// and of the decoders: depth−1−⌊i·ReturnInterval⌋ for i < K (depth−K … depth−1 at interval 1).
// Nil for a config Validate rejects.
func (c Config) ReturnIndex() []int {
	out, err := models.ReturnedBlocks(c.Depth, c.ReturnLayers, c.interval())
	if err != nil {
		return nil
	}
	return out
}

// interval is ReturnInterval with its default.
func (c Config) interval() float64 {
	if c.ReturnInterval == 0 {
		return 1
	}
	return c.ReturnInterval
}

// DropRates are the per-block drop-path rates, linspace(0, DropPath, Depth) in float32 as
// torch.linspace gives them.
func (c Config) DropRates() []float64 {
	r := make([]float64, c.Depth)
	for i := range r {
		if c.Depth > 1 {
			r[i] = float64(float32(c.DropPath * float64(i) / float64(c.Depth-1)))
		}
	}
	return r
}

// Params is the number of trainable parameters.
func (c Config) Params() int {
	n := 0
	for _, p := range layout(c) {
		n += p.Len
	}
	return n
}

// ForwardFLOPs counts the multiply-adds ×2 of one forward pass over B clips of nv visible
// tokens: the patch GEMM, per block qkv, attention (QKᵀ and PV), proj and the MLP, and the K
// heads. Elementwise work is not counted. A training step is about 3× this.
func (c Config) ForwardFLOPs(B, nv int) float64 {
	M, D, H := float64(B*nv), float64(c.Dim), float64(c.Hidden())
	f := 2 * M * float64(c.PatchDim()) * D
	blk := 2*M*D*3*D + 2*2*float64(B)*float64(nv)*float64(nv)*D + 2*M*D*D + 2*2*M*D*H
	f += float64(c.Depth) * blk
	f += float64(c.ReturnLayers) * 2 * M * D * float64(c.ClipDim)
	return f
}
