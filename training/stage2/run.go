package stage2

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/loader"
	"github.com/umt-dev/umt/training/optim"
	"github.com/umt-dev/umt/training/stage1"
	"github.com/umt-dev/umt/transforms/storage"
)

// Dataset is one training corpus (a video or an image dataset written by umt prep).
type Dataset struct {
	Name string
	Src  loader.Source[schemas.ClipRow]
	Prov schemas.Provenance
}

// Init is where a run's weights come from: a checkpoint to resume, or the vision encoder's
// parameters (VisionInit) and a loaded text encoder; the heads start fresh from the seed.
type Init struct {
	Resume string
	Vision []float32
	Text   *bert.Loaded
}

// RunOptions are the run's settings that are not part of the recipe.
type RunOptions struct {
	Out string    // run directory: checkpoints/, metrics.jsonl, loss.png
	Log io.Writer // progress lines (nil = none)
}

// Metrics is one step's record (one line of metrics.jsonl).
type Metrics struct {
	Step      int     `json:"step"` // steps completed after this one
	Epoch     int     `json:"epoch"`
	Dataset   string  `json:"dataset"` // the corpus MetaOrder picked for the step
	Loss      float64 `json:"loss"`    // uta + vtc + vtm + mlm
	UTA       float64 `json:"loss_uta"`
	VTC       float64 `json:"loss_vtc"`
	VTM       float64 `json:"loss_vtm"`
	MLM       float64 `json:"loss_mlm"`
	LR        float64 `json:"lr"`
	ClipsPerS float64 `json:"clips_per_s"`
	Seconds   float64 `json:"seconds"`
	Indices   []int   `json:"indices"` // the dataset's rows of the step
}

// Run is a stage-2 training run over several corpora: every step is one whole batch of one
// corpus in the official MetaLoader order (MetaOrder), with the schedule counted in those steps.
type Run struct {
	Cfg     Config
	Tr      *Trainer
	Sets    []Dataset
	loads   []*loader.Loader[schemas.ClipRow]
	batches []int // batches per epoch of each corpus
	opts    RunOptions
	hist    []Metrics
}

// Start checks the corpora against the model, builds the trainer (fresh or resumed) and
// positions the loaders at its step.
func Start(be kernels.Trainer, c Config, sets []Dataset, in Init, o RunOptions) (*Run, error) {
	if len(sets) == 0 {
		return nil, fmt.Errorf("stage2: no dataset")
	}
	r := &Run{Cfg: c, Sets: sets, opts: o}
	perEpoch := 0
	for _, d := range sets {
		bs, key := c.batchFor(d.Prov)
		n := d.Src.Len() / bs
		if n == 0 {
			return nil, fmt.Errorf("stage2: %s holds %d clips, fewer than one batch of %d: --set %s=%d", d.Name, d.Src.Len(), bs, key, d.Src.Len())
		}
		r.batches = append(r.batches, n)
		perEpoch += n
	}
	sched, err := optim.NewWarmupCosine(c.Epochs, c.WarmupEpochs, perEpoch, c.MinLRMulti)
	if err != nil {
		return nil, err
	}
	if in.Resume != "" {
		dir, err := weights.ResolveCheckpoint(in.Resume)
		if err != nil {
			return nil, err
		}
		if r.Tr, err = Resume(dir, be); err != nil {
			return nil, err
		}
		if r.Tr.Sched != sched || r.Tr.Seed != c.Seed || r.Tr.BaseLR != c.LR || r.Tr.Ranks != c.Ranks {
			r.Close()
			return nil, fmt.Errorf("stage2: %s was trained with schedule %+v, seed %d, lr %g, ranks %d; this config and these datasets give %+v, seed %d, lr %g, ranks %d: resume with the run's --config, --set and --data",
				dir, r.Tr.Sched, r.Tr.Seed, r.Tr.BaseLR, r.Tr.Ranks, sched, c.Seed, c.LR, c.Ranks)
		}
	} else {
		mc := c.Model(in.Text.Cfg)
		if err := r.check(mc); err != nil {
			return nil, err
		}
		m, err := multimodal.New(be, mc, multimodal.Flat{Vision: in.Vision, Text: in.Text.Flat, Heads: multimodal.InitHeads(mc, c.Seed+2)})
		if err != nil {
			return nil, err
		}
		if r.Tr, err = NewTrainer(m, sched, c.LR, c.Seed); err != nil {
			m.Close()
			return nil, err
		}
		r.Tr.Ranks = c.Ranks
	}
	if err := r.check(r.Tr.Model.Cfg); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.openLoaders(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// batchFor is the batch size of a corpus (images: T == 1) and the config key that sets it.
func (c Config) batchFor(p schemas.Provenance) (int, string) {
	if p.Frames == 1 {
		return c.ImageBatchSize, "image_batch_size"
	}
	return c.BatchSize, "batch_size"
}

// check refuses a corpus the model cannot train on, naming the fix.
func (r *Run) check(mc multimodal.Config) error {
	for _, d := range r.Sets {
		p := d.Prov
		if p.Text == nil {
			return fmt.Errorf("stage2: %s stores no caption tokens; prepare it again with the text encoder's vocabulary: umt prep --tokenizer hf:bert-base-uncased --max-text-len %d", d.Name, r.Cfg.MaxTxtL)
		}
		if p.Text.VocabSize != mc.Text.Vocab {
			return fmt.Errorf("stage2: %s was tokenized with %s (%d ids), the text encoder has %d: prepare it again with the encoder's vocabulary: umt prep --tokenizer <its vocab.txt or hf:name>", d.Name, p.Text.Tokenizer, p.Text.VocabSize, mc.Text.Vocab)
		}
		if p.Text.MaxLen != r.Cfg.MaxTxtL {
			return fmt.Errorf("stage2: %s stores captions of %d ids, the config max_txt_l is %d: --set max_txt_l=%d (or umt prep --max-text-len %d)", d.Name, p.Text.MaxLen, r.Cfg.MaxTxtL, p.Text.MaxLen, r.Cfg.MaxTxtL)
		}
		if err := CheckDataset(mc, r.Cfg.Data(), p); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	t0 := r.Sets[0].Prov.Text
	for _, d := range r.Sets[1:] {
		if t := d.Prov.Text; t.VocabSHA256 != t0.VocabSHA256 || t.PreText != t0.PreText {
			return fmt.Errorf("stage2: %s and %s were tokenized with different vocabularies or caption cleaning (%s, %s): prepare them with the same umt prep --tokenizer", r.Sets[0].Name, d.Name, t0.Tokenizer, t.Tokenizer)
		}
	}
	return nil
}

// openLoaders builds one loader per corpus (its own seed, len // batch batches an epoch, the
// incomplete last one dropped) and seeks each to where the trainer's step leaves it.
func (r *Run) openLoaders() error {
	per := r.perEpoch()
	epoch, off := r.Tr.Step/per, r.Tr.Step%per
	order := MetaOrder(r.batches, r.Cfg.Seed, epoch)
	for i, d := range r.Sets {
		bs, _ := r.Cfg.batchFor(d.Prov)
		seed := r.Cfg.Seed + uint64(i)
		l, err := loader.New(d.Src, loader.Options{Seed: seed, BatchSize: bs, EpochBatches: r.batches[i]})
		if err != nil {
			return err
		}
		r.loads = append(r.loads, l)
		taken := 0
		for _, j := range order[:off] {
			if j == i {
				taken++
			}
		}
		if err := l.Seek(loader.Position{Epoch: epoch, Offset: taken, Seed: seed}); err != nil {
			return err
		}
	}
	return nil
}

func (r *Run) perEpoch() int {
	n := 0
	for _, b := range r.batches {
		n += b
	}
	return n
}

// Close frees the loaders, the optimiser and the model.
func (r *Run) Close() {
	for _, l := range r.loads {
		l.Close()
	}
	if r.Tr != nil {
		r.Tr.Close()
		r.Tr.Model.Close()
	}
}

// TotalSteps is where the run stops: the schedule's end or max_steps.
func (r *Run) TotalSteps() int {
	n := r.Tr.Sched.Total
	if r.Cfg.MaxSteps > 0 && r.Cfg.MaxSteps < n {
		n = r.Cfg.MaxSteps
	}
	return n
}

// Step trains on the next batch of the MetaOrder.
func (r *Run) Step(ctx context.Context) (Metrics, error) {
	start := time.Now()
	per := r.perEpoch()
	epoch, off := r.Tr.Step/per, r.Tr.Step%per
	i := MetaOrder(r.batches, r.Cfg.Seed, epoch)[off]
	b, err := r.loads[i].Next(ctx)
	if err != nil {
		return Metrics{}, err
	}
	if b.Epoch != epoch {
		return Metrics{}, fmt.Errorf("stage2: %s's loader is at epoch %d, the run at %d", r.Sets[i].Name, b.Epoch, epoch)
	}
	batch, err := BuildBatch(r.Cfg.Data(), r.Tr.Model.Cfg, r.Sets[i].Prov, b.Rows, b.Indices, epoch)
	if err != nil {
		return Metrics{}, fmt.Errorf("%s: %w", r.Sets[i].Name, err)
	}
	l, lr, err := r.Tr.TrainStep(batch)
	if err != nil {
		return Metrics{}, err
	}
	sec := time.Since(start).Seconds()
	return Metrics{Step: r.Tr.Step, Epoch: epoch, Dataset: r.Sets[i].Name, Loss: l.Total, UTA: l.UTA, VTC: l.VTC, VTM: l.VTM, MLM: l.MLM,
		LR: lr, ClipsPerS: float64(len(b.Rows)) / sec, Seconds: sec, Indices: b.Indices}, nil
}

// Run trains until TotalSteps, logging every log_every steps, appending every step to
// Out/metrics.jsonl, checkpointing every ckpt_every steps and at the end (also when ctx is
// cancelled) and drawing Out/loss.png.
func (r *Run) Run(ctx context.Context) error {
	if err := os.MkdirAll(r.opts.Out, 0o755); err != nil {
		return err
	}
	mpath := filepath.Join(r.opts.Out, "metrics.jsonl")
	past, err := keepMetricsUpTo(mpath, r.Tr.Step)
	if err != nil {
		return err
	}
	mf, err := os.OpenFile(mpath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer mf.Close()
	total := r.TotalSteps()
	r.logf("stage2: %d steps/epoch over %d datasets, steps %d→%d of %d, lr %.3g, backend %s",
		r.perEpoch(), len(r.Sets), r.Tr.Step, total, r.Tr.Sched.Total, r.Cfg.LR, r.Tr.Model.Vision.Backend().Name())
	var runErr error
	for r.Tr.Step < total {
		if runErr = ctx.Err(); runErr != nil {
			break
		}
		m, err := r.Step(ctx)
		if err != nil {
			runErr = err
			break
		}
		r.hist = append(r.hist, m)
		js, _ := json.Marshal(m)
		if _, err := mf.Write(append(js, '\n')); err != nil {
			return err
		}
		if r.Cfg.LogEvery > 0 && (m.Step%r.Cfg.LogEvery == 0 || m.Step == total) {
			r.logf("step %d/%d epoch %d %s loss %.5f (uta %.4f vtc %.4f vtm %.4f mlm %.4f) lr %.3g clips/s %.2f",
				m.Step, total, m.Epoch, m.Dataset, m.Loss, m.UTA, m.VTC, m.VTM, m.MLM, m.LR, m.ClipsPerS)
		}
		if r.Cfg.CkptEvery > 0 && m.Step%r.Cfg.CkptEvery == 0 && m.Step != total {
			if _, err := r.Checkpoint(ctx); err != nil {
				return err
			}
		}
	}
	dir, err := r.Checkpoint(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	r.logf("checkpoint %s", dir)
	all := append(past, r.hist...)
	steps, loss, lr := make([]float64, len(all)), make([]float64, len(all)), make([]float64, len(all))
	for i, m := range all {
		steps[i], loss[i], lr[i] = float64(m.Step), m.Loss, m.LR
	}
	v := r.Tr.Model.Cfg.Vision
	title := fmt.Sprintf("stage 2: %s\nvision %d×%d, text %d×%d, %d frames × %d px, batch %d video / %d image, lr %.3g, seed %d",
		filepath.Base(r.opts.Out), v.Dim, v.Depth, r.Tr.Model.Cfg.Text.Hidden, r.Tr.Model.Cfg.Text.Layers, v.Frames, v.ImgSize, r.Cfg.BatchSize, r.Cfg.ImageBatchSize, r.Cfg.LR, r.Cfg.Seed)
	if err := stage1.PlotCurve(filepath.Join(r.opts.Out, "loss.png"), title, "loss (uta + vtc + vtm + mlm)", steps, loss, lr); err != nil {
		return err
	}
	return runErr
}

// Checkpoint saves the trainer to Out/checkpoints/step-N and points `latest` at it.
func (r *Run) Checkpoint(ctx context.Context) (string, error) {
	root := filepath.Join(r.opts.Out, "checkpoints")
	name := fmt.Sprintf("step-%08d", r.Tr.Step)
	dir := filepath.Join(root, name)
	if err := r.Tr.Save(ctx, dir); err != nil {
		return "", err
	}
	return dir, storage.WriteFile(ctx, filepath.Join(root, "latest"), []byte(name+"\n"))
}

// History returns the metrics of the steps run here.
func (r *Run) History() []Metrics { return slices.Clone(r.hist) }

func (r *Run) logf(format string, a ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, format+"\n", a...)
	}
}

// keepMetricsUpTo rewrites a metrics file keeping the records of steps ≤ step (a run resumed
// from an earlier checkpoint repeats the later ones) and returns them.
func keepMetricsUpTo(path string, step int) ([]Metrics, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keep []Metrics
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		var m Metrics
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &m) != nil || m.Step > step {
			continue // a torn last line or a step the checkpoint does not include
		}
		keep = append(keep, m)
		out.Write(line)
		out.WriteByte('\n')
	}
	return keep, storage.WriteFile(context.Background(), path, out.Bytes())
}
