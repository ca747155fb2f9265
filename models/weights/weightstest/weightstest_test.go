package weightstest

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/models/weights"
)

// TestRoundTrip: every dtype Write encodes reads back identically, with the metadata, through
// models/weights.
func TestRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	in := map[string]Tensor{
		"a": {Shape: []int{2, 3}, F32: []float32{1, -2, 3.5, 0, 1e-30, -7}},
		"b": {Shape: []int{2}, I64: []int64{-1, 1 << 40}},
		"c": {Shape: []int{3}, U8: []uint8{0, 1, 255}},
	}
	if err := Write(p, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	out, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d tensors, want %d", len(out), len(in))
	}
	for n, want := range in {
		got := out[n]
		if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.F32, want.F32) || !slices.Equal(got.I64, want.I64) || !slices.Equal(got.U8, want.U8) {
			t.Errorf("%s: %+v, want %+v", n, got, want)
		}
	}
	f, err := weights.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata %v", f.Metadata)
	}
}
