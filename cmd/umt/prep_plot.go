package main

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/umt-dev/umt/internal/charts"
	"github.com/umt-dev/umt/pipelines/prep"
	"github.com/umt-dev/umt/transforms/storage"
)

// ReportPlotName is the picture of the run report, next to prep-report.json.
const ReportPlotName = "prep-report.png"

// progressSample is the number of clips the workers had finished (ok and failed) at a time.
type progressSample struct {
	at           time.Duration
	done, failed int64
}

// sampleProgress records prep.Progress every interval until the returned stop is called, which
// returns the samples. Workers in this process (Prism in-process, loopback) report there;
// remote workers do not, and the samples then stay at zero.
func sampleProgress(every time.Duration) (stop func() []progressSample) {
	start := time.Now()
	var (
		mu  sync.Mutex
		out = []progressSample{{}}
	)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, f := prep.Progress()
				mu.Lock()
				out = append(out, progressSample{time.Since(start), n, f})
				mu.Unlock()
			}
		}
	}()
	return func() []progressSample {
		close(done)
		n, f := prep.Progress()
		mu.Lock()
		defer mu.Unlock()
		return append(out, progressSample{time.Since(start), n, f})
	}
}

// reportPlot draws the run report: clips per second over the run (each second's rate and a
// 10-second mean, from the progress samples) above the failures by class.
func reportPlot(rep *prep.Report, samples []progressSample) ([]byte, error) {
	title := fmt.Sprintf("umt prep --phase=%s → %s (runner %s)\n%d rows: %d ok, %d failed; %.1f clips/s over %.0f s",
		rep.Phase, path.Base(rep.Dataset), rep.Runner, rep.Rows, rep.OK, rep.Failed, rep.ClipsPerS, rep.WallS)
	rp := charts.New(title, "seconds since the start", "clips per second (ok + failed)")
	ts, rate, win := clipRates(samples)
	rp.X.Min, rp.Y.Min = 0, 0
	if len(ts) > 1 && slices.Max(rate) > 0 {
		if err := charts.Line(rp, fmt.Sprintf("over each %.3g s", win), ts, rate, charts.Light, 1); err != nil {
			return nil, err
		}
		if err := charts.Line(rp, fmt.Sprintf("mean over %.3g s", 5*win), ts, charts.RunningMean(rate, 5), charts.Dark, 2); err != nil {
			return nil, err
		}
	} else {
		rp.Title.Text += "\n(no progress over time: the workers ran outside this process)"
		rp.X.Max, rp.Y.Max = max(1, rep.WallS), 1
	}

	fp := charts.New("", "failure class", "failed rows")
	classes := slices.Sorted(maps.Keys(rep.FailedByClass))
	if len(classes) == 0 {
		fp.Title.Text = "no failures"
		fp.Y.Max = 1
	} else {
		vals := make(plotter.Values, len(classes))
		names := make([]string, len(classes))
		for i, c := range classes {
			vals[i], names[i] = float64(rep.FailedByClass[c]), string(c)
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(30))
		if err != nil {
			return nil, err
		}
		bars.Color, bars.LineStyle.Width = charts.Orange, 0
		fp.Add(bars)
		fp.NominalX(names...)
		fp.Y.Tick.Marker = plot.TickerFunc(integerTicks)
	}
	fp.Y.Min = 0
	return charts.PNG(1000, 700, rp, fp)
}

// clipRates turns progress samples into clips per second over windows of win seconds: a
// sixtieth of the run, at least one second (and at least the sampling interval).
func clipRates(samples []progressSample) (ts, rate []float64, win float64) {
	if len(samples) < 2 {
		return nil, nil, 1
	}
	win = max(1, samples[len(samples)-1].at.Seconds()/60)
	if len(samples) < 8 { // a run of a few seconds: every sample is a window
		win = 0
	}
	anchor := samples[0]
	for _, s := range samples[1:] {
		dt := (s.at - anchor.at).Seconds()
		if dt <= 0 || dt < win {
			continue
		}
		ts = append(ts, s.at.Seconds())
		rate = append(rate, float64(s.done+s.failed-anchor.done-anchor.failed)/dt)
		anchor = s
	}
	if win == 0 && len(ts) > 0 {
		win = ts[0]
	}
	return ts, rate, win
}

// integerTicks labels counts with whole numbers only.
func integerTicks(min, max float64) []plot.Tick {
	step := 1.0
	for (max-min)/step > 8 {
		step *= 2
	}
	var ticks []plot.Tick
	for v := 0.0; v <= max; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return ticks
}

// writeReportPlot draws the report and stores it next to prep-report.json.
func writeReportPlot(ctx context.Context, rep *prep.Report, samples []progressSample) (string, error) {
	png, err := reportPlot(rep, samples)
	if err != nil {
		return "", err
	}
	uri := storage.Join(rep.Dataset, ReportPlotName)
	return uri, storage.WriteFile(ctx, uri, png)
}
