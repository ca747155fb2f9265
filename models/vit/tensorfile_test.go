package vit

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSafetensorsRoundTrip: every dtype we write reads back identically, with metadata.
func TestSafetensorsRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	in := map[string]Tensor{
		"a": {Shape: []int{2, 3}, F32: []float32{1, -2, 3.5, 0, 1e-30, -7}},
		"b": {Shape: []int{2}, I64: []int64{-1, 1 << 40}},
		"c": {Shape: []int{3}, U8: []uint8{0, 1, 255}},
	}
	if err := WriteSafetensors(p, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	out, meta, err := ReadSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" || len(out) != 3 {
		t.Fatalf("meta %v, %d tensors", meta, len(out))
	}
	for n, want := range in {
		got := out[n]
		if !sameShape(got.Shape, want.Shape) || len(got.F32) != len(want.F32) || len(got.I64) != len(want.I64) || len(got.U8) != len(want.U8) {
			t.Fatalf("%s: %+v, want %+v", n, got, want)
		}
		for i := range want.F32 {
			if got.F32[i] != want.F32[i] {
				t.Fatalf("%s[%d]", n, i)
			}
		}
		for i := range want.I64 {
			if got.I64[i] != want.I64[i] {
				t.Fatalf("%s[%d]", n, i)
			}
		}
		for i := range want.U8 {
			if got.U8[i] != want.U8[i] {
				t.Fatalf("%s[%d]", n, i)
			}
		}
	}
}

// FuzzParseSafetensors: checkpoint and weight files are parsed from disk; arbitrary bytes must
// give an error or tensors whose data fits their shapes, never a panic.
func FuzzParseSafetensors(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.safetensors")
	if err := WriteSafetensors(p, map[string]Tensor{"w": {Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}}, "i": {Shape: []int{1}, I64: []int64{5}}}, nil); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b)
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := ParseSafetensors("fuzz", b)
		if err != nil {
			return
		}
		for n, x := range out {
			if l := len(x.F32) + len(x.I64) + len(x.U8); l != x.Len() {
				t.Fatalf("%s: %d values for shape %v", n, l, x.Shape)
			}
		}
	})
}
