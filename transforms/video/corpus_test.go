package video

import (
	"image"
	"image/png"
	"math"
	"os"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// entry is one corpus entry (the shared truth of internal/testenv).
type entry = testenv.CorpusEntry

type refFrame = testenv.RefFrame

func loadCorpus(t testing.TB) (string, []entry) {
	t.Helper()
	return testenv.Corpus(t)
}

// acceptable lists the classes ("" for ok) a sampled run of the entry may give.
func acceptable(e entry) []string {
	var out []string
	for _, c := range e.SampledOutcomes() {
		if c == "ok" {
			c = ""
		}
		out = append(out, c)
	}
	return out
}

func readPNG(t testing.TB, path string) ([]byte, int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			switch p := img.(type) {
			case *image.RGBA:
				i := p.PixOffset(x, y)
				out = append(out, p.Pix[i], p.Pix[i+1], p.Pix[i+2])
			case *image.NRGBA:
				i := p.PixOffset(x, y)
				out = append(out, p.Pix[i], p.Pix[i+1], p.Pix[i+2])
			default:
				r, g, bb, _ := img.At(x, y).RGBA()
				out = append(out, byte(r>>8), byte(g>>8), byte(bb>>8))
			}
		}
	}
	return out, b.Dx(), b.Dy()
}

// psnr of two equal-length RGB buffers (Inf when identical), plus max abs difference.
func psnr(a, b []byte) (float64, int) {
	var se float64
	maxd := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		maxd = max(maxd, d)
		se += float64(d * d)
	}
	if se == 0 {
		return math.Inf(1), 0
	}
	mse := se / float64(len(a))
	return 10 * math.Log10(255*255/mse), maxd
}
