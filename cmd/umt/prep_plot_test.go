package main

import (
	"image"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/charts"
	"github.com/umt-dev/umt/internal/charts/chartstest"
	"github.com/umt-dev/umt/pipelines/prep"
	"github.com/umt-dev/umt/schemas"
)

// TestPrepReportPlotReads: the report's picture has the rate curve across the whole run, one
// bar per failure class with the class names and counts written beside the axes, and a title;
// a run whose workers were remote still draws the failures and says why the rate is missing.
func TestPrepReportPlotReads(t *testing.T) {
	rep := &prep.Report{Dataset: "/data/k400-umt", Phase: prep.PhaseAll, Runner: "prism", Rows: 700, OK: 600, Failed: 100,
		FailedByClass: map[schemas.FailureClass]int64{"truncated": 60, "corrupt": 30, "not_media": 10}, WallS: 120, ClipsPerS: 5.8}
	var samples []progressSample
	for i := 0; i <= 480; i++ { // 120 s at 4 samples/s, 5 clips/s rising to 7
		at := time.Duration(i) * 250 * time.Millisecond
		done := int64(at.Seconds() * (5 + 2*at.Seconds()/120))
		samples = append(samples, progressSample{at: at, done: done * 6 / 7, failed: done / 7})
	}
	png, err := reportPlot(rep, samples)
	if err != nil {
		t.Fatal(err)
	}
	img := chartstest.DecodePNG(t, png)
	b := img.Bounds()
	curve := chartstest.Box(img, charts.Light).Union(chartstest.Box(img, charts.Dark))
	bars := chartstest.Box(img, charts.Orange)
	if curve.Empty() || bars.Empty() {
		t.Fatalf("rate curve %v, bars %v: missing", curve, bars)
	}
	if curve.Dx() < b.Dx()*7/10 {
		t.Errorf("rate curve spans %d of %d px: want the whole run", curve.Dx(), b.Dx())
	}
	if bars.Min.Y < curve.Max.Y {
		t.Errorf("failure bars %v are not below the rate panel %v", bars, curve)
	}
	// Three bars: three separate runs of orange along a row near the bars' bottom.
	runs, in := 0, false
	for x := b.Min.X; x < b.Max.X; x++ {
		on := !chartstest.Box(img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(x, bars.Max.Y-2, x+1, bars.Max.Y-1)), charts.Orange).Empty()
		if on && !in {
			runs++
		}
		in = on
	}
	if runs != 3 {
		t.Errorf("%d bars, want one per failure class (3)", runs)
	}
	for name, r := range map[string]image.Rectangle{
		"title":                    image.Rect(curve.Min.X, 0, curve.Max.X, curve.Min.Y-4),
		"rate ticks and label":     image.Rect(0, curve.Min.Y, curve.Min.X-4, curve.Max.Y),
		"class names under bars":   image.Rect(curve.Min.X, bars.Max.Y+2, curve.Max.X, b.Max.Y),
		"count ticks left of bars": image.Rect(0, bars.Min.Y, curve.Min.X-4, bars.Max.Y),
	} {
		if n := chartstest.TextPixels(img, r); n < 100 {
			t.Errorf("%s %v: %d text pixels, want text", name, r, n)
		}
	}

	// Remote workers: no samples, still a picture with the failures.
	png, err = reportPlot(rep, []progressSample{{}})
	if err != nil {
		t.Fatal(err)
	}
	if img := chartstest.DecodePNG(t, png); chartstest.Box(img, charts.Orange).Empty() {
		t.Error("without progress samples the failures are not drawn")
	}
}
