package vit

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// refSet is the stage-1 part of a reference directory (UMT_REFDATA): the config from its
// manifest.json, the student weights and the student input/output tensors.
type refSet struct {
	cfg     Config
	B       int
	weights map[string]Tensor
	io      map[string]Tensor
}

func loadRef(t testing.TB) refSet {
	t.Helper()
	dir := testenv.RefData(t)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		C struct {
			B, T    int
			Img     int `json:"img"`
			Patch   int `json:"patch"`
			Teacher struct {
				OutputDim int `json:"output_dim"`
			} `json:"teacher"`
			Student struct {
				EmbedDim int `json:"embed_dim"`
				Depth    int `json:"depth"`
				Heads    int `json:"heads"`
				Tubelet  int `json:"tubelet_size"`
				K        int `json:"clip_return_layer"`
				Interval int `json:"clip_student_return_interval"`
			} `json:"student"`
		} `json:"config_stage1"`
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	c := man.C
	if c.Student.Interval != 1 {
		t.Skipf("reference uses clip_student_return_interval %d; only 1 (UMT's recipe) is implemented", c.Student.Interval)
	}
	cfg := Config{ImgSize: c.Img, Patch: c.Patch, Frames: c.T, Tubelet: c.Student.Tubelet, Dim: c.Student.EmbedDim,
		Depth: c.Student.Depth, Heads: c.Student.Heads, MLPRatio: 4, ClipDim: c.Teacher.OutputDim, ReturnLayers: c.Student.K}
	w, _, err := ReadSafetensors(filepath.Join(dir, "student_tiny_weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	io, _, err := ReadSafetensors(filepath.Join(dir, "student_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return refSet{cfg: cfg, B: c.B, weights: w, io: io}
}

func (r refSet) get(t testing.TB, m map[string]Tensor, name string) Tensor {
	t.Helper()
	x, ok := m[name]
	if !ok {
		t.Fatalf("reference has no tensor %q", name)
	}
	return x
}

// batch builds the reference batch: visible tokens from bool_masked_pos, patches from
// pixel_values, targets as stored.
func (r refSet) batch(t testing.TB) Batch {
	t.Helper()
	px := r.get(t, r.io, "pixel_values")
	mask := r.get(t, r.io, "bool_masked_pos")
	N := r.cfg.Tokens()
	clip := len(px.F32) / r.B
	b := Batch{B: r.B, Targets: r.get(t, r.io, "targets_clip").F32}
	for i := 0; i < r.B; i++ {
		var toks []int32
		for n := 0; n < N; n++ {
			if mask.U8[i*N+n] == 0 {
				toks = append(toks, int32(n))
			}
		}
		p, err := Patchify(r.cfg, px.F32[i*clip:(i+1)*clip], toks)
		if err != nil {
			t.Fatal(err)
		}
		b.Tokens = append(b.Tokens, toks...)
		b.Patches = append(b.Patches, p...)
	}
	return b
}

// checkClose fails when max|got − want| > tol·max|want|, printing the error statistics and a
// few values side by side (llm.c check_tensor style).
func checkClose(t testing.TB, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, reference has %d", name, len(got), len(want))
		return
	}
	var maxRef, maxAbs float64
	worst := 0
	for i := range want {
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > maxAbs || math.IsNaN(d) {
			maxAbs, worst = d, i
			if math.IsNaN(d) {
				maxAbs = math.Inf(1)
			}
		}
	}
	rel := maxAbs / math.Max(maxRef, 1e-30)
	if rel <= tol {
		return
	}
	var sb strings.Builder
	for i := 0; i < len(want) && i < 5; i++ {
		fmt.Fprintf(&sb, "\n  [%d] got %.8g ref %.8g", i, got[i], want[i])
	}
	fmt.Fprintf(&sb, "\n  worst [%d] got %.8g ref %.8g", worst, got[worst], want[worst])
	t.Errorf("%s: max abs err %.3g, max|ref| %.3g, rel %.3g > tol %.1g%s", name, maxAbs, maxRef, rel, tol, sb.String())
}
