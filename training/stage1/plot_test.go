package stage1

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestPlotLoss: the PNG decodes at 800×400 and the smoothed curve (dark blue) runs from the left
// edge of the plot near the top (high early loss) to the right edge near the bottom.
func TestPlotLoss(t *testing.T) {
	var ms []Metrics
	for i := 0; i < 200; i++ {
		ms = append(ms, Metrics{Step: i + 1, Loss: 2 - 1.5*float64(i)/199})
	}
	p := filepath.Join(t.TempDir(), "loss.png")
	if err := PlotLoss(p, ms); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 400 {
		t.Fatalf("size %v", b)
	}
	curveY := func(x int) int {
		for y := 0; y < 400; y++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 20 && g>>8 == 50 && b>>8 == 160 {
				return y
			}
		}
		return -1
	}
	left, right := curveY(35), curveY(765)
	if left < 0 || right < 0 || left > 60 || right < 340 {
		t.Fatalf("curve at y=%d (left) and y=%d (right); want near the top, then near the bottom", left, right)
	}
	if err := PlotLoss(p, nil); err != nil {
		t.Fatalf("empty history: %v", err)
	}
}
