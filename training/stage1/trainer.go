package stage1

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/ckpt"
	"github.com/umt-dev/umt/training/loader"
	"github.com/umt-dev/umt/training/optim"
)

// Options are the run's settings that are not part of the recipe.
type Options struct {
	Out       string    // run directory: checkpoints/, metrics.jsonl, loss.png ("" = none)
	Log       io.Writer // progress lines (nil = none)
	PeakFLOPS float64   // the device's peak float32 FLOP/s, for the MFU estimate (0 = not reported)
	InitSeed  uint64    // weight init seed when not resuming (default Config.Seed)
}

// Metrics is one step's record (one JSONL line).
type Metrics struct {
	Step      int     `json:"step"` // steps completed after this one
	Epoch     int     `json:"epoch"`
	Loss      float64 `json:"loss"`
	LR        float64 `json:"lr"`
	GradNorm  float64 `json:"grad_norm"`
	ClipsPerS float64 `json:"clips_per_s"`
	MFU       float64 `json:"mfu,omitempty"`
	Seconds   float64 `json:"seconds"`
	Indices   []int   `json:"indices"` // dataset rows of the step, rank 0's batch first (data-order audits)
}

// Trainer runs stage 1 on one backend. A config with World > 1 is run as UMT's data-parallel
// step on one device: each step takes the batch of every rank in turn (rank r reads its own
// DistributedSampler-style partition), accumulates the gradients and averages them, which is the
// update DDP's gradient all-reduce produces. (Multi-process training is not built.)
type Trainer struct {
	Cfg   Config
	Prov  schemas.Provenance
	Model *vit.Model
	Opt   *optim.AdamW
	Sched optim.Schedule
	Loads []*loader.Loader[schemas.ClipRow] // one per rank, in lockstep
	Steps int                               // optimiser steps completed
	opts  Options
	last  float64
	hist  []Metrics
}

// New builds a trainer with freshly initialised weights.
func New(be kernels.Trainer, c Config, src loader.Source[schemas.ClipRow], p schemas.Provenance, o Options) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := CheckDataset(c, p); err != nil {
		return nil, err
	}
	var lds []*loader.Loader[schemas.ClipRow]
	closeAll := func() {
		for _, l := range lds {
			l.Close()
		}
	}
	// UMT's epoch is len(dataset) // batch_size // world steps; the rest of each rank's
	// partition is skipped (the engine's `if step >= num_training_steps_per_epoch: continue`).
	iters := src.Len() / c.BatchSize / c.World
	if iters == 0 {
		fix := fmt.Sprintf("--set batch_size=%d", src.Len()/c.World)
		if src.Len() < c.World {
			fix = fmt.Sprintf("--world 1 --set batch_size=%d", max(1, min(src.Len(), c.BatchSize)))
		}
		return nil, fmt.Errorf("stage1: %d clips give no full step of %d clips × %d ranks; use %s", src.Len(), c.BatchSize, c.World, fix)
	}
	for r := 0; r < c.World; r++ {
		ld, err := loader.New(src, loader.Options{Seed: c.Seed, Rank: r, World: c.World, BatchSize: c.BatchSize, EpochBatches: iters})
		if err != nil {
			closeAll()
			return nil, err
		}
		lds = append(lds, ld)
	}
	sched, err := optim.NewSchedule(c.PeakLR(), c.FinalLR(), c.Epochs, c.WarmupEpochs, lds[0].BatchesPerEpoch())
	if err != nil {
		closeAll()
		return nil, err
	}
	seed := o.InitSeed
	if seed == 0 {
		seed = c.Seed
	}
	m, err := vit.New(be, c.Model, vit.InitParams(c.Model, seed))
	if err != nil {
		closeAll()
		return nil, err
	}
	do, dl, ro, rl := m.Groups()
	opt, err := optim.NewAdamW(be, c.Model.Params(), []optim.Group{{Off: do, Len: dl, Decay: true}, {Off: ro, Len: rl}}, c.Optim)
	if err != nil {
		m.Close()
		closeAll()
		return nil, err
	}
	return &Trainer{Cfg: c, Prov: p, Model: m, Opt: opt, Sched: sched, Loads: lds, opts: o}, nil
}

// Close releases the model, the optimiser state and the loaders.
func (t *Trainer) Close() {
	for _, l := range t.Loads {
		l.Close()
	}
	t.Opt.Close()
	t.Model.Close()
}

// Resume restores weights, moments, step and data position from a checkpoint.
func (t *Trainer) Resume(path string) error {
	ck, err := ckpt.Load(path)
	if err != nil {
		return err
	}
	if ck.State.Model != t.Cfg.Model {
		return fmt.Errorf("stage1: checkpoint model %+v differs from the config's %+v", ck.State.Model, t.Cfg.Model)
	}
	var run Config
	if err := json.Unmarshal(ck.State.Run, &run); err != nil {
		return fmt.Errorf("stage1: checkpoint run config: %w", err)
	}
	// These fix the data order and the schedule: resuming with others would not continue the run.
	if run.BatchSize != t.Cfg.BatchSize || run.World != t.Cfg.World || run.Seed != t.Cfg.Seed ||
		run.Epochs != t.Cfg.Epochs || run.WarmupEpochs != t.Cfg.WarmupEpochs || run.Masks != t.Cfg.Masks {
		return fmt.Errorf("stage1: checkpoint was trained with batch_size %d, world %d, seed %d, epochs %d/%d warmup, masks %s; resume with the same values (this config: %d, %d, %d, %d/%d, %s)",
			run.BatchSize, run.World, run.Seed, run.Epochs, run.WarmupEpochs, run.Masks,
			t.Cfg.BatchSize, t.Cfg.World, t.Cfg.Seed, t.Cfg.Epochs, t.Cfg.WarmupEpochs, t.Cfg.Masks)
	}
	be := t.Model.Backend()
	be.Upload(t.Model.Weights(), ck.Weights)
	if err := be.Sync(); err != nil {
		return err
	}
	if err := t.Opt.SetMoments(ck.M, ck.V, ck.State.Step); err != nil {
		return err
	}
	for _, l := range t.Loads {
		if err := l.Seek(ck.State.Loader); err != nil {
			return err
		}
	}
	t.Steps, t.last = ck.State.Step, ck.State.Loss
	return nil
}

// Checkpoint saves the current state under Out/checkpoints and returns its directory.
func (t *Trainer) Checkpoint() (string, error) {
	if t.opts.Out == "" {
		return "", fmt.Errorf("stage1: no output directory for checkpoints")
	}
	w, err := t.Model.Download()
	if err != nil {
		return "", err
	}
	m, v, err := t.Opt.Moments()
	if err != nil {
		return "", err
	}
	run, _ := json.Marshal(t.Cfg)
	return ckpt.Save(filepath.Join(t.opts.Out, "checkpoints"), ckpt.State{Step: t.Steps, Loader: t.Loads[0].Position(),
		Model: t.Cfg.Model, Run: run, Loss: t.last}, w, m, v)
}

// TotalSteps is the schedule's length, or MaxSteps when smaller.
func (t *Trainer) TotalSteps() int {
	if t.Cfg.MaxSteps > 0 && t.Cfg.MaxSteps < t.Sched.Total {
		return t.Cfg.MaxSteps
	}
	return t.Sched.Total
}

// Step runs one optimiser step: forward and backward of every rank's batch, averaged
// gradients, optional clipping, AdamW at the scheduled lr.
func (t *Trainer) Step(ctx context.Context) (Metrics, error) {
	pos := t.Loads[0].Position()
	m, err := t.step(ctx)
	if err != nil {
		// Some ranks may have consumed their batch: put every loader back, so that a retry or a
		// checkpoint taken now continues with exactly this step's data.
		for _, l := range t.Loads {
			if serr := l.Seek(pos); serr != nil {
				return m, fmt.Errorf("%w (and rewinding the loader failed: %v)", err, serr)
			}
		}
	}
	return m, err
}

func (t *Trainer) step(ctx context.Context) (Metrics, error) {
	start := time.Now()
	m := Metrics{Step: t.Steps + 1}
	t.Model.ZeroGrads()
	var lossSum, flops float64
	clips := 0
	for r, ld := range t.Loads {
		b, err := ld.Next(ctx)
		if err != nil {
			return Metrics{}, err
		}
		vb, err := BuildBatch(t.Cfg, t.Prov, b.Rows, b.Epoch)
		if err != nil {
			return Metrics{}, err
		}
		dropKey := t.Cfg.Seed*0x9e3779b97f4a7c15 ^ uint64(t.Steps+1)*0xbf58476d1ce4e5b9 ^ uint64(r+1)*0x94d049bb133111eb
		if err := t.Model.Forward(vb, true, dropKey); err != nil {
			return Metrics{}, err
		}
		loss, err := t.Model.Loss(vb.Targets)
		if err != nil {
			return Metrics{}, err
		}
		if err := t.Model.Backward(); err != nil {
			return Metrics{}, err
		}
		lossSum += loss
		m.Epoch = b.Epoch
		m.Indices = append(m.Indices, b.Indices...)
		clips += vb.B
		flops += 3 * t.Cfg.Model.ForwardFLOPs(vb.B, vb.Visible())
	}
	world := float64(len(t.Loads))
	m.Loss = lossSum / world
	if math.IsNaN(m.Loss) || math.IsInf(m.Loss, 0) {
		return Metrics{}, fmt.Errorf("stage1: loss is %v at step %d; lower the lr or enable clip_grad, and resume from the last checkpoint", m.Loss, m.Step)
	}
	gn, err := t.Model.GradNorm() // of the summed gradients
	if err != nil {
		return Metrics{}, err
	}
	m.GradNorm = gn / world
	m.LR = t.Sched.At(t.Steps)
	if err := t.Opt.Update(t.Model.Weights(), t.Model.Grads(), m.LR, t.Opt.ClipScale(m.GradNorm)/world); err != nil {
		return Metrics{}, err
	}
	t.Steps++
	t.last = m.Loss
	m.Seconds = time.Since(start).Seconds()
	m.ClipsPerS = float64(clips) / m.Seconds
	if t.opts.PeakFLOPS > 0 {
		m.MFU = flops / m.Seconds / t.opts.PeakFLOPS
	}
	return m, nil
}
