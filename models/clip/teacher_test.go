package clip

import (
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// tinyConfig is a small random teacher for API tests (not parity).
var tinyConfig = Config{Width: 32, Layers: 2, Heads: 2, Patch: 8, OutputDim: 16, PosGrid: 2, Resolution: 16, ReturnLayers: 2}

func TestEncodeArgumentErrors(t *testing.T) {
	w, err := RandomWeights(tinyConfig, 7)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: 2})
	tch, err := New(be, tinyConfig, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]byte, 2*16*16*3)
	nf, na := tch.Sizes(1, 2)
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"short frames", func() error { _, _, err := tch.Encode(frames[:10], 1, 2, 16, 16); return err }, "frames hold 10 bytes"},
		{"zero T", func() error { _, _, err := tch.Encode(frames, 1, 0, 16, 16); return err }, "positive"},
		{"wrong output", func() error { return tch.EncodeTo(make([]float32, nf-1), make([]float32, na), frames, 1, 2, 16, 16) }, "output slices"},
	} {
		if err := c.run(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// Frames of another size are resized; attention may be skipped.
	feats := make([]float32, nf)
	if err := tch.EncodeTo(feats, nil, make([]byte, 2*20*12*3), 1, 2, 20, 12); err != nil {
		t.Fatal(err)
	}
	if err := tch.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tch.Encode(frames, 1, 2, 16, 16); err == nil {
		t.Error("Encode after Close: no error")
	}
	if st := be.Stats(); st.LiveBytes != 0 || st.LiveAllocs != 0 {
		t.Errorf("after Close: %+v", st)
	}
	// Weights that do not fit the config are refused by New.
	bad := *w
	bad.Proj = bad.Proj[:len(bad.Proj)-1]
	if _, err := New(be, tinyConfig, &bad, Options{}); err == nil || !strings.Contains(err.Error(), "proj") {
		t.Errorf("New with a short proj: %v", err)
	}
}

// TestEncodeIsDeterministicAcrossChunking: the frame chunk size changes only the grouping, not
// the result (every op is per-frame), and results are reproducible across calls (buffer reuse
// leaves no state behind).
func TestEncodeIsDeterministicAcrossChunking(t *testing.T) {
	w, _ := RandomWeights(tinyConfig, 9)
	frames := make([]byte, 2*3*16*16*3)
	for i := range frames {
		frames[i] = byte(i * 7)
	}
	var ref []float32
	for _, mf := range []int{1, 2, 5, 8} {
		be := cpu.New(cpu.Options{Threads: 3})
		tch, err := New(be, tinyConfig, w, Options{MaxFrames: mf})
		if err != nil {
			t.Fatal(err)
		}
		for rep := 0; rep < 2; rep++ {
			f, _, err := tch.Encode(frames, 2, 3, 16, 16)
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = f
				continue
			}
			compareRef(t, "chunked", f, ref, 1e-6)
		}
		tch.Close()
	}
}
