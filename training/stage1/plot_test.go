package stage1

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/charts"
	"github.com/umt-dev/umt/internal/charts/chartstest"
)

// TestLossPlotReads checks what a person reading loss.png needs: text (title, axis labels, tick
// numbers) drawn in the margins around both panels, the smoothed loss curve spanning the plot
// from the first step to the last and from the highest loss to the lowest, and the lr curve
// in its own panel below; an empty history still draws the axes.
func TestLossPlotReads(t *testing.T) {
	var ms []Metrics
	for i := 0; i < 200; i++ {
		ms = append(ms, Metrics{Step: i + 1, Loss: 2 - 1.5*float64(i)/199 + 0.05*math.Sin(float64(i)), LR: 1e-3 * math.Min(1, float64(i+1)/20)})
	}
	p := filepath.Join(t.TempDir(), "loss.png")
	if err := PlotLoss(p, "stage 1: test-run\nstudent 48×3", ms); err != nil {
		t.Fatal(err)
	}
	img := chartstest.ReadPNG(t, p)
	b := img.Bounds()
	if b.Dx() != 1000 || b.Dy() != 700 {
		t.Fatalf("size %v, want 1000×700", b)
	}
	dark := chartstest.Box(img, charts.Dark)
	light := chartstest.Box(img, charts.Light)
	lr := chartstest.Box(img, charts.Orange)
	if dark.Empty() || light.Empty() || lr.Empty() {
		t.Fatalf("curves missing: smoothed %v raw %v lr %v", dark, light, lr)
	}
	// The loss panel's plot area is (about) the raw curve's box: the curve runs from the left
	// edge to the right edge and from top to bottom, because the axes fit the data range.
	area := light.Union(dark)
	if lr.Min.Y < area.Max.Y {
		t.Errorf("the lr curve (%v) is not below the loss panel (%v)", lr, area)
	}
	if area.Dx() < b.Dx()*6/10 || area.Dy() < b.Dy()*25/100 {
		t.Errorf("loss curve spans %v of a %v image; want most of the panel", area, b)
	}
	if lr.Dx() < area.Dx()*9/10 {
		t.Errorf("lr curve spans %d px, the loss %d px: they share the step axis", lr.Dx(), area.Dx())
	}
	// Text pixels (near black) in the margins: the y tick numbers and label left of the plot
	// area, the step numbers below each panel, the title above.
	left := image.Rect(0, area.Min.Y, area.Min.X-4, area.Max.Y)
	below := image.Rect(area.Min.X, lr.Max.Y+4, area.Max.X, b.Max.Y)
	above := image.Rect(area.Min.X, 0, area.Max.X, area.Min.Y-4)
	for name, r := range map[string]image.Rectangle{"left of the loss panel (y ticks, label)": left, "below the lr panel (step ticks, label)": below, "above (title)": above} {
		if n := chartstest.TextPixels(img, r); n < 150 {
			t.Errorf("%s %v: %d text pixels; want tick numbers and labels there", name, r, n)
		}
	}
	if err := PlotLoss(p, "empty", nil); err != nil {
		t.Fatalf("empty history: %v", err)
	}
	if n := chartstest.TextPixels(chartstest.ReadPNG(t, p), chartstest.ReadPNG(t, p).Bounds()); n < 300 {
		t.Errorf("empty history: %d text pixels; want axes with labels", n)
	}
}
