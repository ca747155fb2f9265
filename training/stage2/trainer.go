package stage2

import (
	"fmt"

	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/umt"
	"github.com/umt-dev/umt/training/optim"
)

// Trainer runs stage-2 steps: fresh gradients, one forward and backward of the four losses
// with the step's seeded draws, and one AdamW update at the schedule's learning rate.
type Trainer struct {
	Model  *multimodal.Model
	Opt    *Optimizer
	Sched  optim.WarmupCosine
	BaseLR float64 // 1e-4 in the recipe, not batch-scaled
	Seed   uint64
	// Ranks is the official run's GPU count: VTM's negatives, MLM's mean and VTC's gradient
	// weight follow its batch/Ranks-clip ranks (1, or 0 in checkpoints from before it existed:
	// the whole batch).
	Ranks int
	Step  int // steps taken; the next one runs at BaseLR·Sched.Multiplier(Step)
}

// NewTrainer builds the optimiser of m (AdamW's stage-2 setting) and a trainer at step 0.
func NewTrainer(m *multimodal.Model, sched optim.WarmupCosine, baseLR float64, seed uint64) (*Trainer, error) {
	if !(baseLR > 0) {
		return nil, fmt.Errorf("stage2: learning rate %v must be positive", baseLR)
	}
	opt, err := NewOptimizer(m, AdamW)
	if err != nil {
		return nil, err
	}
	return &Trainer{Model: m, Opt: opt, Sched: sched, BaseLR: baseLR, Seed: seed}, nil
}

// Close frees the optimiser (the model stays the caller's).
func (t *Trainer) Close() { t.Opt.Close() }

// LR is the learning rate of the next step.
func (t *Trainer) LR() float64 { return t.BaseLR * t.Sched.Multiplier(t.Step) }

// TrainStep trains on one batch and returns its losses and the learning rate it used. The
// draws (MLM masking, VTM negatives, drop path) are a pure function of (Seed, Step).
func (t *Trainer) TrainStep(b multimodal.Batch) (multimodal.Losses, float64, error) {
	m := t.Model
	key := t.Seed ^ uint64(t.Step+1)*0x9e3779b97f4a7c15
	B := b.Vision.B
	if t.Ranks > 1 && B%t.Ranks != 0 {
		return multimodal.Losses{}, 0, fmt.Errorf("stage2: a batch of %d clips does not split over %d ranks", B, t.Ranks)
	}
	d := umt.NewDraws(key, umt.DrawSizes{B: B, L: b.L, Vocab: m.Cfg.Text.Vocab, Group: B / max(t.Ranks, 1), MLMProb: m.Cfg.MLMProb})
	m.ZeroGrads()
	l, err := m.Step(b, d, key, nil)
	if err != nil {
		return l, 0, err
	}
	lr := t.LR()
	if err := t.Opt.Update(lr); err != nil {
		return l, 0, err
	}
	t.Step++
	return l, lr, nil
}
