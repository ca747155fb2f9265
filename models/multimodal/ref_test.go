package multimodal

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// The stage-2 reference README's pass criteria for a float32 re-implementation.
const (
	tolAct     = 1e-4 // activations, logits, score matrices: max|d| ≤ tol·max|ref|
	tolLoss    = 1e-5 // losses, relative
	tolGrad    = 1e-3 // gradients, per tensor, of max|ref|
	tolKeyBias = 1e-6 // absolute, the analytically zero *.key.bias gradients
)

// refModel is a stage-2 reference set as this package reads it.
type refModel struct {
	cfg     Config
	sd      map[string]*weights.Tensor
	flat    Flat
	media   map[string]testenv.Stage2Media
	batches []string // kinds whose io files the directory holds
	dir     string
}

// refStage2Config is the model a reference set describes, or the reason this implementation
// cannot reproduce the set.
func refStage2Config(s testenv.Stage2, v testenv.Stage2Vision) (Config, error) {
	st, b := v.Student, s.BERT
	video, ok := v.Media["video"]
	if !ok {
		return Config{}, fmt.Errorf("reference set: stage2_model_config has no video entry (image size and patch)")
	}
	vc := vit.Config{ImgSize: video.Img, Patch: video.Patch, Frames: st.Frames, Tubelet: st.Tubelet, Dim: st.Dim, Depth: st.Depth,
		Heads: st.Heads, MLPRatio: int(st.MLPRatio), ClipDim: st.ClipDim, ReturnLayers: st.ReturnLayers,
		ReturnInterval: st.ReturnInterval, DropPath: st.DropPath, Stage2: true}
	tc := bert.Config{Hidden: b.Hidden, Layers: b.Layers, Heads: b.Heads, Intermediate: b.Intermediate, Vocab: b.Vocab,
		MaxPosition: b.MaxPosition, TypeVocab: 2, Eps: b.Eps, FusionLayer: b.FusionLayer, EncoderWidth: b.EncoderWidth}
	if b.TypeVocabSize != nil {
		tc.TypeVocab = *b.TypeVocabSize
	}
	c := Config{Vision: vc, Text: tc, EmbedDim: s.EmbedDim, TempInit: s.TempInit, MLMProb: s.Criterion.MLMMaskingProb}
	cr := s.Criterion
	switch {
	case float64(vc.MLPRatio) != st.MLPRatio:
		return c, fmt.Errorf("reference set: mlp_ratio %v: the encoder takes an integer ratio", st.MLPRatio)
	case st.QKVBias != "q/v only" || st.Eps != vit.Eps:
		return c, fmt.Errorf("reference set: qkv_bias %q, ln_eps %v: the encoder has q/v biases and LayerNorm eps %g", st.QKVBias, st.Eps, vit.Eps)
	case st.DecoderDim != st.Dim:
		return c, fmt.Errorf("reference set: clip_decoder_embed_dim %d differs from the encoder dim %d; the official decoders then fail on their input", st.DecoderDim, st.Dim)
	case st.DropPath != 0:
		return c, fmt.Errorf("reference set: drop_path_rate %v: the outputs depend on torch's drop-path draws, which the set does not store", st.DropPath)
	case b.HiddenAct != "gelu" || b.Dropout != 0 || s.FP16:
		return c, fmt.Errorf("reference set: bert hidden_act %q, dropout %v, fp16 %v: this model runs exact gelu, no dropout, float32", b.HiddenAct, b.Dropout, s.FP16)
	case cr.UTANormType != "l2" || cr.UTALossType != "l2" || !cr.VTMHardNeg:
		return c, fmt.Errorf("reference set: uta %s/%s, vtm_hard_neg %v: this model implements l2/l2 with hard negatives", cr.UTANormType, cr.UTALossType, cr.VTMHardNeg)
	}
	for _, k := range []string{"uta", "vtc", "vtm", "mlm"} {
		if w, ok := cr.LossWeight[k]; !ok || w != 1 {
			return c, fmt.Errorf("reference set: loss_weight %v: the total is uta + vtc + vtm + mlm with weights 1", cr.LossWeight)
		}
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("reference set: %w", err)
	}
	if !slices.Equal(vc.ReturnIndex(), st.ReturnIndex) {
		return c, fmt.Errorf("reference set: return_index %v, the config gives %v", st.ReturnIndex, vc.ReturnIndex())
	}
	return c, nil
}

func loadRefModel(t testing.TB) refModel {
	t.Helper()
	dir := testenv.RefData(t)
	s, v := testenv.RefStage2(t), testenv.RefStage2Vision(t)
	cfg, err := refStage2Config(s, v)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	w, err := weightstest.Read(filepath.Join(dir, "stage2_tiny_weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sd := weightstest.Map(w)
	flat, err := FromState(cfg, sd)
	if err != nil {
		t.Fatalf("stage2_tiny_weights.safetensors: %v", err)
	}
	r := refModel{cfg: cfg, sd: sd, flat: flat, media: v.Media, dir: dir}
	for _, kind := range s.Batches {
		if _, err := os.Stat(filepath.Join(dir, "stage2_tiny_"+kind+"_io.safetensors")); err == nil {
			r.batches = append(r.batches, kind)
		} else {
			t.Logf("%s batch: its io file is not in this set (the project's lean copy may keep fewer batches)", kind)
		}
	}
	if len(r.batches) == 0 {
		t.Fatalf("%s: no stage2_tiny_<kind>_io.safetensors for any of %v", dir, s.Batches)
	}
	return r
}

// newRefModel builds the model on a fresh CPU backend and checks at cleanup that every buffer
// was freed.
func newRefModel(t testing.TB, r refModel) *Model {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: 2})
	m, err := New(be, r.cfg, r.flat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if s := be.Stats(); s.LiveBytes != 0 || s.LiveAllocs != 0 {
			t.Errorf("backend still holds %d bytes in %d allocations after the model closed", s.LiveBytes, s.LiveAllocs)
		}
	})
	return m
}

// refIO is one batch's io file and side file.
type refIO struct {
	kind string
	io   map[string]weightstest.Tensor
	side struct {
		Losses            map[string]float64 `json:"losses"`
		ParamsWithoutGrad []string           `json:"params_without_grad"`
		NParamsWithGrad   int                `json:"n_params_with_grad"`
	}
}

func readIO(t testing.TB, dir, kind string) refIO {
	t.Helper()
	r := refIO{kind: kind}
	var err error
	if r.io, err = weightstest.Read(filepath.Join(dir, "stage2_tiny_"+kind+"_io.safetensors")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "stage2_tiny_"+kind+"_io.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r.side); err != nil {
		t.Fatalf("stage2_tiny_%s_io.json: %v", kind, err)
	}
	return r
}

func (r refIO) get(t testing.TB, name string, dims ...int) weightstest.Tensor {
	t.Helper()
	x, ok := r.io[name]
	if !ok {
		t.Fatalf("%s batch: reference has no tensor %q", r.kind, name)
	}
	if dims != nil && !slices.Equal(x.Shape, dims) {
		t.Fatalf("%s batch: %s has shape %v; the set's config implies %v", r.kind, name, x.Shape, dims)
	}
	return x
}

// relErr is max|got − want| / max|want| (+Inf on a length mismatch or NaN).
func relErr(got []float64, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var maxRef, maxAbs float64
	for i := range want {
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
		d := math.Abs(got[i] - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		maxAbs = math.Max(maxAbs, d)
	}
	return maxAbs / math.Max(maxRef, 1e-30)
}

func checkAct(t testing.TB, name string, got []float64, want []float32) {
	t.Helper()
	if e := relErr(got, want); e > tolAct {
		t.Errorf("%s: max|d|/max|ref| = %.3g > %g (%d vs %d values)", name, e, tolAct, len(got), len(want))
	} else {
		t.Logf("%s: max|d|/max|ref| = %.3g", name, e)
	}
}

func checkInts[T ~int | ~int32 | ~int64](t testing.TB, name string, got []T, want []int64) {
	t.Helper()
	g := make([]int64, len(got))
	for i, x := range got {
		g[i] = int64(x)
	}
	if !slices.Equal(g, want) {
		t.Errorf("%s: %v, reference %v", name, g, want)
	}
}
