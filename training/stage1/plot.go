package stage1

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"

	"github.com/umt-dev/umt/models/vit"
)

// PlotLoss draws loss against step as a PNG (800×400): grey axes with tick marks at every
// tenth of each range, the per-step loss in light blue and its running mean over 1/50 of the
// run in dark blue. The numeric ranges are in metrics.jsonl; the picture is for a glance.
func PlotLoss(path string, ms []Metrics) error {
	const W, H, pad = 800, 400, 30
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	axis := color.RGBA{120, 120, 120, 255}
	for x := pad; x < W-pad; x++ {
		img.Set(x, H-pad, axis)
	}
	for y := pad; y <= H-pad; y++ {
		img.Set(pad, y, axis)
	}
	for i := 0; i <= 10; i++ {
		x := pad + i*(W-2*pad)/10
		y := H - pad - i*(H-2*pad)/10
		for d := 0; d < 5; d++ {
			img.Set(x, H-pad+d, axis)
			img.Set(pad-d, y, axis)
		}
	}
	if len(ms) > 0 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, m := range ms {
			lo, hi = math.Min(lo, m.Loss), math.Max(hi, m.Loss)
		}
		if hi == lo {
			hi = lo + 1
		}
		px := func(i int, v float64) (int, int) {
			x := pad + int(float64(i)/math.Max(1, float64(len(ms)-1))*float64(W-2*pad-1))
			y := H - pad - 1 - int((v-lo)/(hi-lo)*float64(H-2*pad-2))
			return x, y
		}
		line := func(vals []float64, c color.RGBA) {
			for i := 1; i < len(vals); i++ {
				x0, y0 := px(i-1, vals[i-1])
				x1, y1 := px(i, vals[i])
				n := max(abs(x1-x0), abs(y1-y0), 1)
				for s := 0; s <= n; s++ {
					img.Set(x0+(x1-x0)*s/n, y0+(y1-y0)*s/n, c)
				}
			}
		}
		raw := make([]float64, len(ms))
		for i, m := range ms {
			raw[i] = m.Loss
		}
		win := max(1, len(ms)/50)
		smooth := make([]float64, len(ms))
		var s float64
		for i, v := range raw {
			s += v
			if i >= win {
				s -= raw[i-win]
			}
			smooth[i] = s / float64(min(i+1, win))
		}
		line(raw, color.RGBA{160, 190, 240, 255})
		line(smooth, color.RGBA{20, 50, 160, 255})
	}
	return vit.AtomicWrite(path, func(f *os.File) error { return png.Encode(f, img) })
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
