// Package charts renders gonum plots (gonum.org/v1/plot, fonts embedded) as PNG images: one
// place for the resolution and layout of the figures umt writes next to its outputs (a
// training run's loss.png, a dataset's prep-report.png).
package charts

import (
	"bytes"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DPI is the resolution of every figure: 100 pixels per inch, so a 1000-pixel-wide figure is
// 10 inches and gonum's default 12-point labels are about 17 pixels tall.
const DPI = 100

// Colours of the figures' series, distinguishable in print and for common colour blindness.
var (
	Light  = color.RGBA{R: 150, G: 185, B: 235, A: 255} // raw per-step values
	Dark   = color.RGBA{R: 20, G: 50, B: 160, A: 255}   // smoothed values
	Orange = color.RGBA{R: 220, G: 110, B: 20, A: 255}  // a second quantity (lr, failures)
)

// PNG renders plots stacked in one column, sharing the width, as a w×h pixel PNG.
func PNG(w, h int, plots ...*plot.Plot) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(vg.Length(w)*vg.Inch/DPI, vg.Length(h)*vg.Inch/DPI), vgimg.UseDPI(DPI))
	dc := draw.New(c)
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	pad := vg.Millimeter * 4
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: pad, PadBottom: pad, PadLeft: pad, PadRight: pad * 2, PadY: pad * 2}
	for i, cv := range plot.Align(rows, tiles, dc) {
		plots[i].Draw(cv[0])
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Line adds a line of the points (xs[i], ys[i]) in colour c and width wpt points to p, with a
// legend entry.
func Line(p *plot.Plot, name string, xs, ys []float64, c color.Color, wpt float64) error {
	pts := make(plotter.XYs, len(xs))
	for i := range xs {
		pts[i].X, pts[i].Y = xs[i], ys[i]
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = c, vg.Length(wpt)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// New returns a plot with a grid, labelled axes and the legend at the top right.
func New(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// RunningMean is the mean of each value and up to win−1 values before it: the smoothed curve
// beside a noisy per-step one.
func RunningMean(v []float64, win int) []float64 {
	out := make([]float64, len(v))
	var s float64
	for i, x := range v {
		s += x
		if i >= win {
			s -= v[i-win]
		}
		out[i] = s / float64(min(i+1, win))
	}
	return out
}
