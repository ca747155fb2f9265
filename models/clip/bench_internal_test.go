package clip

import (
	"context"
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// TestTinyPresetIsTheBundledTinyTeacher: the "tiny" preset has the shapes of the tiny teacher
// file the demo ships, so `umt bench teacher --config tiny` times the teacher the demo runs.
func TestTinyPresetIsTheBundledTinyTeacher(t *testing.T) {
	flags := Config{Heads: Tiny.Heads, Resolution: Tiny.Resolution, ReturnLayers: Tiny.ReturnLayers}
	_, cfg, err := Load(context.Background(), "../../testdata/refdata/umt/teacher_tiny_openai.safetensors", LoadOptions{Config: flags})
	if err != nil {
		t.Fatal(err)
	}
	if want := Tiny.WithDefaults(); cfg != want {
		t.Errorf("bundled tiny teacher config\n%+v\nTiny preset\n%+v", cfg, want)
	}
	for _, name := range PresetNames {
		if _, err := Preset(name); err != nil {
			t.Errorf("Preset(%q): %v", name, err)
		}
	}
	if _, err := Preset("b32"); err == nil {
		t.Error("Preset(b32) gave no error")
	}
}

// TestBenchEncodesEveryFrame runs the benchmark workload at a size the teacher must resize and
// checks every feature it writes is finite and each frame's CLS→patch attention is a share of
// one softmax row (the rest is CLS→CLS): in (0, 1].
func TestBenchEncodesEveryFrame(t *testing.T) {
	b, err := NewBench(cpu.New(cpu.Options{Threads: 1}), Tiny, nil, BenchShape{B: 2, T: 3, Size: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 2; i++ {
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range b.feats {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("feature %d = %v", i, v)
		}
	}
	hw := b.Config().Tokens()
	if len(b.attn) != 2*3*hw {
		t.Fatalf("attn has %d values, want %d", len(b.attn), 2*3*hw)
	}
	for f := 0; f < 6; f++ {
		var s float64
		for _, v := range b.attn[f*hw : (f+1)*hw] {
			s += float64(v)
		}
		if !(s > 0 && s <= 1+1e-5) {
			t.Errorf("frame %d: CLS attention over patches sums to %v", f, s)
		}
	}
	if _, err := NewBench(cpu.New(cpu.Options{}), Tiny, nil, BenchShape{B: 0, T: 3}); err == nil {
		t.Error("NewBench with 0 clips gave no error")
	}
}
