package clip

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"

	"github.com/umt-dev/umt/models/weights"
)

// TestExportRoundTrip: weights written in OpenAI and in Hugging Face naming load back (naming
// detected, shapes inferred) to the same values and configuration.
func TestExportRoundTrip(t *testing.T) {
	cfg := Config{Width: 32, Layers: 2, Heads: 2, Patch: 8, OutputDim: 12, PosGrid: 4, Resolution: 32}.WithDefaults()
	w, err := RandomWeights(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, export := range []func(Config) ([]weights.Tensor, error){w.OpenAITensors, w.HFTensors} {
		checkRoundTrip(t, cfg, w, export)
	}
	if _, err := (&Weights{}).OpenAITensors(cfg); err == nil {
		t.Error("empty weights exported without error")
	}
}

func checkRoundTrip(t *testing.T, cfg Config, w *Weights, export func(Config) ([]weights.Tensor, error)) {
	t.Helper()
	ts, err := export(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "teacher.safetensors")
	b, err := weights.Marshal(ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, gcfg, err := FromFile(f, Config{Heads: 2, Resolution: 32})
	if err != nil {
		t.Fatal(err)
	}
	if gcfg.Width != 32 || gcfg.Layers != 2 || gcfg.Patch != 8 || gcfg.OutputDim != 12 || gcfg.PosGrid != 4 {
		t.Fatalf("inferred config %+v", gcfg)
	}
	for i, s := range w.specs(cfg) {
		if g := *got.specs(gcfg)[i].dst; !slices.Equal(g, *s.dst) {
			t.Fatalf("%s differs after the round trip", s.name)
		}
	}
}

// TestHFExportMatchesReferenceFile: the reference teacher, read from its OpenAI-named file and
// exported in Hugging Face naming, equals the set's own HF-named file name for name, shape for
// shape and value for value.
func TestHFExportMatchesReferenceFile(t *testing.T) {
	m, _, files := refSet(t)
	var openai, hf *weights.File
	for _, p := range files {
		f, err := weights.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		n, err := DetectNaming(f)
		if err != nil {
			t.Fatal(err)
		}
		if n.HF {
			hf = f
		} else if openai == nil {
			openai = f
		}
	}
	if openai == nil || hf == nil {
		t.Fatalf("reference set %s lacks an OpenAI- or an HF-named teacher file", testenv.RefData(t))
	}
	w, cfg, err := FromFile(openai, Config{Heads: m.Teacher.Heads, Resolution: m.Img})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := w.HFTensors(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != len(hf.Names()) {
		t.Errorf("export has %d tensors, the reference HF file %d", len(ts), len(hf.Names()))
	}
	for _, x := range ts {
		ref := hf.Get(x.Name)
		if ref == nil {
			t.Errorf("%s is not in the reference HF file", x.Name)
			continue
		}
		want, err := ref.Float32()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := x.Float32()
		if !slices.Equal(ref.Shape, x.Shape) || !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, reference %v (or values differ)", x.Name, x.Shape, ref.Shape)
		}
	}
}
