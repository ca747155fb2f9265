package bert

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// Tolerances of the stage-2 reference README for a float32 re-implementation: activations and
// logits max|d| ≤ 1e-4·max|ref|, losses 1e-5 relative, gradients 1e-3·max|ref| per tensor and
// 1e-6 absolute for the analytically zero key-bias gradients.
const (
	tolAct      = 1e-4
	tolLoss     = 1e-5
	tolGrad     = 1e-3
	tolKeyBias  = 1e-6
	refWeights  = "stage2_tiny_weights.safetensors"
	refIOPrefix = "stage2_tiny_"
)

// refConfig is the encoder of a stage-2 reference set: every option from its manifest, or the
// reason this implementation cannot reproduce the set.
func refConfig(s testenv.Stage2) (Config, error) {
	b := s.BERT
	c := Config{Hidden: b.Hidden, Layers: b.Layers, Heads: b.Heads, Intermediate: b.Intermediate, Vocab: b.Vocab,
		MaxPosition: b.MaxPosition, TypeVocab: 2, Eps: b.Eps, FusionLayer: b.FusionLayer, EncoderWidth: b.EncoderWidth}
	if b.TypeVocabSize != nil {
		c.TypeVocab = *b.TypeVocabSize
	}
	switch {
	case b.HiddenAct != "gelu":
		return Config{}, fmt.Errorf("reference set: bert hidden_act %q: the encoder runs the exact erf gelu only", b.HiddenAct)
	case b.Dropout != 0:
		return Config{}, fmt.Errorf("reference set: bert dropout %v: the outputs depend on torch's dropout draws, which the set does not store; regenerate it with dropout 0", b.Dropout)
	case s.FP16:
		return Config{}, fmt.Errorf("reference set: fp16 true: the encoder runs float32; regenerate the set with fp16 off")
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("reference set: %w", err)
	}
	text, fusion := c.TextLayers(), c.FusionLayers()
	if b.TextLayers != nil && !slices.Equal(b.TextLayers, text) || b.FusionLayers != nil && !slices.Equal(b.FusionLayers, fusion) {
		return Config{}, fmt.Errorf("reference set: text layers %v and fusion layers %v, but fusion_layer %d of %d gives %v and %v",
			b.TextLayers, b.FusionLayers, c.FusionLayer, c.Layers, text, fusion)
	}
	return c, nil
}

// refBatch is one stage-2 batch of a reference set (stage2_tiny_<kind>_io.safetensors).
type refBatch struct {
	kind string
	io   map[string]weightstest.Tensor
	B, L int
}

// refSet is the stage-2 reference set: config, encoder weights (text_encoder.*) and the
// batches whose files the directory holds.
type refSet struct {
	s       testenv.Stage2
	cfg     Config
	flat    []float32
	all     map[string]*weights.Tensor // every tensor of the weights file (heads, temp, …)
	batches []refBatch
}

func loadRef(t testing.TB) refSet {
	t.Helper()
	dir := testenv.RefData(t)
	s := testenv.RefStage2(t)
	cfg, err := refConfig(s)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	w, err := weightstest.Read(filepath.Join(dir, refWeights))
	if err != nil {
		t.Fatal(err)
	}
	all := weightstest.Map(w)
	flat, _, err := ParamsFromState(cfg, all, UMT, 0)
	if err != nil {
		t.Fatalf("%s: %v", refWeights, err)
	}
	r := refSet{s: s, cfg: cfg, flat: flat, all: all}
	for _, kind := range s.Batches {
		path := filepath.Join(dir, refIOPrefix+kind+"_io.safetensors")
		if _, err := os.Stat(path); os.IsNotExist(err) {
			t.Logf("%s batch: %s is not in this set", kind, filepath.Base(path))
			continue
		}
		io, err := weightstest.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		ids := get(t, io, "text.input_ids")
		if len(ids.Shape) != 2 {
			t.Fatalf("%s: text.input_ids has shape %v, want [B, L]", path, ids.Shape)
		}
		r.batches = append(r.batches, refBatch{kind: kind, io: io, B: ids.Shape[0], L: ids.Shape[1]})
	}
	if len(r.batches) == 0 {
		t.Fatalf("%s: none of the batches %v of its manifest has a %s<kind>_io.safetensors file", dir, s.Batches, refIOPrefix)
	}
	return r
}

func get(t testing.TB, m map[string]weightstest.Tensor, name string) weightstest.Tensor {
	t.Helper()
	x, ok := m[name]
	if !ok {
		t.Fatalf("reference has no tensor %q", name)
	}
	return x
}

// shaped fails unless the reference tensor has the given shape.
func shaped(t testing.TB, m map[string]weightstest.Tensor, name string, dims ...int) weightstest.Tensor {
	t.Helper()
	x := get(t, m, name)
	if !slices.Equal(x.Shape, dims) {
		t.Fatalf("reference tensor %s has shape %v; the set's config implies %v", name, x.Shape, dims)
	}
	return x
}

func i32(v []int64) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// newModel builds the reference encoder on a fresh CPU backend and checks at cleanup that
// every buffer was freed.
func newModel(t testing.TB, cfg Config, flat []float32) (*Model, *cpu.Backend) {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: 2})
	m, err := New(be, cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if s := be.Stats(); s.LiveBytes != 0 || s.LiveAllocs != 0 {
			t.Errorf("backend still holds %d bytes in %d allocations after every pass and the model closed", s.LiveBytes, s.LiveAllocs)
		}
	})
	return m, be
}

// relErr is max|got − want| / max|want| (+Inf on a length mismatch or NaN).
func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var maxRef, maxAbs float64
	for i := range want {
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		maxAbs = math.Max(maxAbs, d)
	}
	return maxAbs / math.Max(maxRef, 1e-30)
}

// checkRel fails when relErr > tol and logs the observed figure either way.
func checkRel(t testing.TB, name string, got, want []float32, tol float64) {
	t.Helper()
	rel := relErr(got, want)
	if rel > tol {
		t.Errorf("%s: max|d|/max|ref| = %.3g > %.1g (%d values)", name, rel, tol, len(want))
		return
	}
	t.Logf("%s: max|d|/max|ref| = %.3g", name, rel)
}

func download(t testing.TB, be kernels.Backend, b kernels.Buf) []float32 {
	t.Helper()
	out := make([]float32, b.Len())
	if err := be.Download(out, b); err != nil {
		t.Fatal(err)
	}
	return out
}

func upload(t testing.TB, be kernels.Backend, v []float32) kernels.Buf {
	t.Helper()
	b := be.Alloc(len(v))
	be.Upload(b, v)
	t.Cleanup(func() { be.Free(b) })
	return b
}
