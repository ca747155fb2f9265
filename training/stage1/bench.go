package stage1

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/optim"
	"github.com/umt-dev/umt/transforms/masks"
)

// StepBench is the training step that BenchmarkStep and `umt bench step` time, set up in one
// place so both measure the same thing: forward over the visible tokens of B clips of random
// normalised pixels (uniform attention, so the masks are uniform draws at the config's mask
// ratio), the alignment loss to unit targets, backward, the gradient norm and one AdamW update.
// Drop path is off, as in bench/stage1_cpu.py, so every step does the same work.
type StepBench struct {
	m     *vit.Model
	opt   *optim.AdamW
	batch vit.Batch
	cfg   vit.Config
}

// NewStepBench builds c's student (weights from InitParams, seed 1) and optimiser on be and
// draws a batch of B clips. Close it when done.
func NewStepBench(be kernels.Trainer, c Config, B int) (*StepBench, error) {
	if B <= 0 {
		return nil, fmt.Errorf("stage1: bench batch %d must be positive", B)
	}
	if !(c.MaskRatio >= 0 && c.MaskRatio < 1) {
		return nil, fmt.Errorf("stage1: mask_ratio %v must lie in [0, 1); use --set mask_ratio=0.8", c.MaskRatio)
	}
	cfg := c.Model
	cfg.DropPath = 0
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stage1: model: %w; %s", err, modelFix(cfg))
	}
	batch, err := randomBatch(cfg, B, c.MaskRatio)
	if err != nil {
		return nil, err
	}
	m, err := vit.New(be, cfg, vit.InitParams(cfg, 1))
	if err != nil {
		return nil, err
	}
	do, dl, ro, rl := m.Groups()
	opt, err := optim.NewAdamW(be, cfg.Params(), []optim.Group{{Off: do, Len: dl, Decay: true}, {Off: ro, Len: rl}}, c.Optim)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &StepBench{m: m, opt: opt, batch: batch, cfg: cfg}, nil
}

// Run takes one step; the first also allocates the model's workspace.
func (s *StepBench) Run() error {
	if _, err := s.m.Step(s.batch, 1); err != nil {
		return err
	}
	gn, err := s.m.GradNorm()
	if err != nil {
		return err
	}
	if math.IsNaN(gn) || math.IsInf(gn, 0) {
		return fmt.Errorf("stage1: bench step: gradient norm %v", gn)
	}
	return s.opt.Update(s.m.Weights(), s.m.Grads(), 1e-4, 1)
}

// FLOPs is the matmul work of one step: 3× the forward's (backward ≈ 2× forward).
func (s *StepBench) FLOPs() float64 {
	return 3 * s.cfg.ForwardFLOPs(s.batch.B, s.batch.Visible())
}

// Clips is B, the clips one step trains on.
func (s *StepBench) Clips() int { return s.batch.B }

// Close frees the model's and the optimiser's buffers.
func (s *StepBench) Close() {
	s.opt.Close()
	s.m.Close()
}

// randomBatch draws B clips of random normalised pixels, a uniform-attention mask at ratio and
// unit targets.
func randomBatch(cfg vit.Config, B int, ratio float64) (vit.Batch, error) {
	r := rand.New(rand.NewPCG(1, 2))
	hw, T := cfg.HW(), cfg.Frames
	attn := make([]float32, T*hw)
	for i := range attn {
		attn[i] = 1
	}
	var b vit.Batch
	b.B = B
	for i := 0; i < B; i++ {
		vis, err := masks.Sample(attn, T, hw, ratio, masks.NewStream(1, strconv.Itoa(i), 0, 0))
		if err != nil {
			return b, err
		}
		var toks []int32
		for _, t := range masks.TokenIndex(vis, hw) {
			toks = append(toks, int32(t))
		}
		video := make([]float32, 3*T*cfg.ImgSize*cfg.ImgSize)
		for j := range video {
			video[j] = float32(r.NormFloat64())
		}
		p, err := vit.Patchify(cfg, video, toks)
		if err != nil {
			return b, err
		}
		b.Tokens = append(b.Tokens, toks...)
		b.Patches = append(b.Patches, p...)
	}
	nv := b.Visible()
	b.Targets = make([]float32, cfg.ReturnLayers*B*nv*cfg.ClipDim)
	for i := 0; i < len(b.Targets); i += cfg.ClipDim {
		var ss float64
		for j := i; j < i+cfg.ClipDim; j++ {
			b.Targets[j] = float32(r.NormFloat64())
			ss += float64(b.Targets[j]) * float64(b.Targets[j])
		}
		for j := i; j < i+cfg.ClipDim; j++ {
			b.Targets[j] /= float32(math.Sqrt(ss))
		}
	}
	return b, nil
}
