package vit

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// refSet is the stage-1 part of a reference directory (UMT_REFDATA): the config from its
// manifest.json, the student weights and the student input/output tensors.
type refSet struct {
	cfg     Config
	B       int
	weights map[string]weightstest.Tensor
	io      map[string]weightstest.Tensor
}

func loadRef(t testing.TB) refSet {
	t.Helper()
	dir := testenv.RefData(t)
	c := testenv.RefStage1(t)
	cfg, err := refConfig(c)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	w, err := weightstest.Read(filepath.Join(dir, "student_tiny_weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	io, err := weightstest.Read(filepath.Join(dir, "student_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	r := refSet{cfg: cfg, B: c.B, weights: w, io: io}
	N, K, C := cfg.Tokens(), cfg.ReturnLayers, cfg.ClipDim
	r.shape(t, io, "pixel_values", c.B, 3, cfg.Frames, cfg.ImgSize, cfg.ImgSize)
	r.shape(t, io, "bool_masked_pos", c.B, N)
	nv := r.visible(t)
	r.shape(t, io, "targets_clip", K, c.B, nv, C)
	r.shape(t, io, "outputs_clip", K, c.B, nv, C)
	if ri, ok := io["return_layer_indices"]; ok {
		got := make([]int, len(ri.I64))
		for i, v := range ri.I64 {
			got[i] = int(v)
		}
		if !slices.Equal(got, cfg.ReturnIndex()) {
			t.Fatalf("reference returns student blocks %v; clip_student_return_interval %v of its manifest gives %v here", got, c.Student.ReturnInterval, cfg.ReturnIndex())
		}
	}
	return r
}

// refConfig is the student configuration of a reference set: every option from its manifest,
// or the reason the set cannot be reproduced by this implementation.
func refConfig(c testenv.Stage1) (Config, error) {
	if err := c.Supported(); err != nil {
		return Config{}, err
	}
	cfg := Config{ImgSize: c.Img, Patch: c.Patch, Frames: c.T, Tubelet: c.Student.Tubelet, Dim: c.Student.Dim,
		Depth: c.Student.Depth, Heads: c.Student.Heads, MLPRatio: int(c.MLPRatio()), ClipDim: c.Teacher.OutputDim,
		ReturnLayers: c.Student.ReturnLayers, ReturnInterval: c.Student.ReturnInterval, DropPath: c.DropPath()}
	if cfg.ReturnInterval == 0 && cfg.ReturnLayers > 1 {
		return Config{}, fmt.Errorf("reference set: clip_student_return_interval 0 with %d layers repeats the last block", cfg.ReturnLayers)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("reference set: %w", err)
	}
	if d := c.Derived.StudentReturn; d != nil && !slices.Equal(d, cfg.ReturnIndex()) {
		return Config{}, fmt.Errorf("reference set: derived student blocks %v; clip_student_return_interval %v gives %v here", d, c.Student.ReturnInterval, cfg.ReturnIndex())
	}
	return cfg, nil
}

// shape fails the test unless the reference tensor has the shape its manifest implies.
func (r refSet) shape(t testing.TB, m map[string]weightstest.Tensor, name string, dims ...int) weightstest.Tensor {
	t.Helper()
	x := r.get(t, m, name)
	if !slices.Equal(x.Shape, dims) {
		t.Fatalf("reference tensor %s has shape %v; its manifest implies %v", name, x.Shape, dims)
	}
	return x
}

// visible is the number of visible tokens per clip of the reference mask; every clip must have
// the same number (the student batches equal-length clips, as the official reshape does).
func (r refSet) visible(t testing.TB) int {
	t.Helper()
	mask, N := r.get(t, r.io, "bool_masked_pos"), r.cfg.Tokens()
	nv := -1
	for b := 0; b < r.B; b++ {
		n := 0
		for _, m := range mask.U8[b*N : (b+1)*N] {
			if m == 0 {
				n++
			}
		}
		if nv >= 0 && n != nv {
			t.Fatalf("reference mask: clip %d has %d visible tokens, clip 0 %d", b, n, nv)
		}
		nv = n
	}
	return nv
}

func (r refSet) get(t testing.TB, m map[string]weightstest.Tensor, name string) weightstest.Tensor {
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
