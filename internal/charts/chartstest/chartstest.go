// Package chartstest reads figures the way a person would, for tests: where a colour's pixels
// lie, and how much text is drawn in a region.
package chartstest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"testing"
)

// Box is the bounding box of the pixels of colour c (±12 per channel, for antialiasing).
func Box(img image.Image, c color.Color) image.Rectangle {
	cr, cg, cb, _ := c.RGBA()
	var r image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, cr) && near(pg, cg) && near(pb, cb) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func near(a, b uint32) bool { d := int(a>>8) - int(b>>8); return d > -12 && d < 12 }

// TextPixels counts near-black pixels in r (gonum draws text, ticks and axes in black).
func TextPixels(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if pr>>8 < 90 && pg>>8 < 90 && pb>>8 < 90 {
				n++
			}
		}
	}
	return n
}

// ReadPNG decodes the PNG file at path.
func ReadPNG(t testing.TB, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return DecodePNG(t, b)
}

// DecodePNG decodes PNG bytes.
func DecodePNG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
