package stage1

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/umt-dev/umt/internal/charts"
	"github.com/umt-dev/umt/transforms/storage"
)

// PlotLoss writes loss.png (1000×700): the loss per step and its running mean over 1/50 of the
// run (at least 5 steps) above the learning rate, against step, with labelled axes, tick
// numbers, legends and title (the run's name and config, two lines).
func PlotLoss(path, title string, ms []Metrics) error {
	steps, loss, lr := make([]float64, len(ms)), make([]float64, len(ms)), make([]float64, len(ms))
	for i, m := range ms {
		steps[i], loss[i], lr[i] = float64(m.Step), m.Loss, m.LR
	}
	return PlotCurve(path, title, "loss (mean of 2 − 2·cos)", steps, loss, lr)
}

// PlotCurve draws PlotLoss's figure from per-step columns with the loss axis named yLabel
// (stage 2 plots its total loss with it).
func PlotCurve(path, title, yLabel string, steps, loss, lr []float64) error {
	ms := steps
	if len(ms) == 0 {
		title += "\n(no steps recorded)"
	}
	win := max(5, len(ms)/50)
	lp := charts.New(title, "step", yLabel)
	rp := charts.New("", "step", "learning rate")
	if len(ms) > 0 {
		if err := charts.Line(lp, "loss per step", steps, loss, charts.Light, 1); err != nil {
			return err
		}
		if err := charts.Line(lp, fmt.Sprintf("mean of the last %d steps", win), steps, charts.RunningMean(loss, win), charts.Dark, 2); err != nil {
			return err
		}
		if err := charts.Line(rp, "lr (warmup, cosine decay)", steps, lr, charts.Orange, 2); err != nil {
			return err
		}
	}
	png, err := charts.PNG(1000, 700, lp, rp)
	if err != nil {
		return err
	}
	return storage.WriteFile(context.Background(), path, png)
}

// plotTitle names the run (its directory) and the config that shaped the curve.
func (t *Trainer) plotTitle() string {
	c, m := t.Cfg, t.Cfg.Model
	return fmt.Sprintf("stage 1: %s, teacher %s\nstudent %d×%d (dim × depth), %d frames × %d px / %d, batch %d × %d ranks, peak lr %.3g, masks %s, seed %d",
		filepath.Base(t.opts.Out), t.Prov.Teacher, m.Dim, m.Depth, m.Frames, m.ImgSize, m.Patch, c.BatchSize, c.World, c.PeakLR(), c.Masks, c.Seed)
}
