package stage1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/umt-dev/umt/transforms/storage"
)

// Run trains until TotalSteps, logging every LogEvery steps, appending every step to
// Out/metrics.jsonl, checkpointing every CkptEvery steps and at the end, and drawing
// Out/loss.png at the end. It returns early, after a checkpoint, when ctx is cancelled.
func (t *Trainer) Run(ctx context.Context) error {
	var mf *os.File
	var past []Metrics // this run directory's earlier steps, for the loss curve
	if t.opts.Out != "" {
		if err := os.MkdirAll(t.opts.Out, 0o755); err != nil {
			return err
		}
		var err error
		if past, err = t.keepMetricsUpTo(filepath.Join(t.opts.Out, "metrics.jsonl")); err != nil {
			return err
		}
		mf, err = os.OpenFile(filepath.Join(t.opts.Out, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer mf.Close()
	}
	total := t.TotalSteps()
	t.logf("stage1: %d params, %d steps/epoch of %d clips, steps %d→%d, peak lr %.3g, backend %s",
		t.Cfg.Model.Params(), t.Loads[0].BatchesPerEpoch(), t.Cfg.BatchSize*t.Cfg.World, t.Steps, total, t.Cfg.PeakLR(), t.Model.Backend().Name())
	var runErr error
	for t.Steps < total {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		m, err := t.Step(ctx)
		if err != nil {
			runErr = err
			break
		}
		t.hist = append(t.hist, m)
		if mf != nil {
			js, _ := json.Marshal(m)
			if _, err := mf.Write(append(js, '\n')); err != nil {
				return err
			}
		}
		if t.Cfg.LogEvery > 0 && (m.Step%t.Cfg.LogEvery == 0 || m.Step == total) {
			mfu := "n/a"
			if m.MFU > 0 {
				mfu = fmt.Sprintf("%.1f%%", 100*m.MFU)
			}
			t.logf("step %d/%d epoch %d loss %.5f lr %.3g grad-norm %.4g clips/s %.2f mfu %s",
				m.Step, total, m.Epoch, m.Loss, m.LR, m.GradNorm, m.ClipsPerS, mfu)
		}
		if t.opts.Out != "" && t.Cfg.CkptEvery > 0 && m.Step%t.Cfg.CkptEvery == 0 && m.Step != total {
			if _, err := t.Checkpoint(); err != nil {
				return err
			}
		}
	}
	if t.opts.Out != "" {
		dir, err := t.Checkpoint()
		if err != nil {
			return err
		}
		t.logf("checkpoint %s", dir)
		if err := PlotLoss(filepath.Join(t.opts.Out, "loss.png"), t.plotTitle(), append(past, t.hist...)); err != nil {
			return err
		}
	}
	return runErr
}

// keepMetricsUpTo rewrites a metrics file keeping only the records of steps ≤ t.Steps (a run
// resumed from an earlier checkpoint repeats the later steps) and returns them.
func (t *Trainer) keepMetricsUpTo(path string) ([]Metrics, error) {
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
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &m) != nil || m.Step > t.Steps {
			continue // a torn last line or a step the checkpoint does not include
		}
		keep = append(keep, m)
		out.Write(line)
		out.WriteByte('\n')
	}
	return keep, storage.WriteFile(context.Background(), path, out.Bytes())
}

// History returns the metrics of the steps run by this trainer.
func (t *Trainer) History() []Metrics { return t.hist }

func (t *Trainer) logf(format string, a ...any) {
	if t.opts.Log != nil {
		fmt.Fprintf(t.opts.Log, format+"\n", a...)
	}
}
