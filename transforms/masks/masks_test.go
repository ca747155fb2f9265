package masks

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/umt-dev/umt/internal/testenv"
)

// refTensor reads one tensor of a reference safetensors file as float64 values with its shape.
func refTensor(t *testing.T, st safetensors.SafeTensors, name string) ([]float64, []int) {
	t.Helper()
	tv, ok := st.Tensor(name)
	if !ok {
		t.Fatalf("reference has no tensor %q", name)
	}
	var shape []int
	for _, d := range tv.Shape() {
		shape = append(shape, int(d))
	}
	b := tv.Data()
	var out []float64
	switch tv.DType() {
	case safetensors.F32:
		for i := 0; i+4 <= len(b); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
		}
	case safetensors.I64:
		for i := 0; i+8 <= len(b); i += 8 {
			out = append(out, float64(int64(binary.LittleEndian.Uint64(b[i:]))))
		}
	case safetensors.U8:
		for _, v := range b {
			out = append(out, float64(v))
		}
	default:
		t.Fatalf("tensor %q has dtype %v", name, tv.DType())
	}
	return out, shape
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestReferenceMaskFromNoise reproduces the official mask from the stored Exp(1) noise: the
// importance order, the visible indices and bool_masked_pos must match exactly. Everything is
// read from UMT_REFDATA's manifest, so any reference set with this layout is checked.
func TestReferenceMaskFromNoise(t *testing.T) {
	dir := testenv.RefData(t)
	man := testenv.RefStage1(t)
	buf, err := os.ReadFile(filepath.Join(dir, "mask_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		t.Fatal(err)
	}
	// Every shape is checked against the manifest first, so a set with other sizes fails with
	// the reason instead of an index out of range.
	rows, hw := man.B*man.T, man.HW()
	nVis := VisibleCount(hw, man.MaskRatio)
	if nVis != man.Derived.NVisPerFrame {
		t.Fatalf("VisibleCount(%d, %v) = %d, manifest says %d", hw, man.MaskRatio, nVis, man.Derived.NVisPerFrame)
	}
	shaped := func(name string, dims ...int) []float64 {
		v, shape := refTensor(t, st, name)
		if !slices.Equal(shape, dims) {
			t.Fatalf("reference tensor %s has shape %v; its manifest implies %v", name, shape, dims)
		}
		return v
	}
	attn := shaped("mask.attn_cls", rows, hw)
	noise := shaped("mask.exp_noise", rows, hw)
	keysRef := shaped("mask.sampling_keys", rows, hw)
	imp := shaped("mask.importance", rows, hw)
	visRef := shaped("mask.visible_idx_sorted", rows, nVis)
	boolRef := shaped("mask.bool_masked_pos", man.B, man.T*hw)

	keys, err := Keys(f32(attn), f32(noise))
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if keys[i] != float32(keysRef[i]) {
			t.Fatalf("key %d = %v, reference %v (attn/noise must be a float32 division)", i, keys[i], keysRef[i])
		}
	}
	for r := 0; r < rows; r++ {
		ord := Order(keys[r*hw : (r+1)*hw])
		for j, p := range ord {
			if float64(p) != imp[r*hw+j] {
				t.Fatalf("row %d: importance order %v, reference %v", r, ord, imp[r*hw:(r+1)*hw])
			}
		}
	}
	vis, err := FromNoise(f32(attn), f32(noise), rows, hw, nVis)
	if err != nil {
		t.Fatal(err)
	}
	for r := range vis {
		for j, p := range vis[r] {
			if float64(p) != visRef[r*nVis+j] {
				t.Fatalf("row %d: visible %v, reference %v", r, vis[r], visRef[r*nVis:(r+1)*nVis])
			}
		}
	}
	B, T := man.B, man.T
	for b := 0; b < B; b++ {
		m := BoolMask(vis[b*T:(b+1)*T], hw)
		for i, v := range m {
			if float64(v) != boolRef[b*T*hw+i] {
				t.Fatalf("clip %d token %d: mask %d, reference %v", b, i, v, boolRef[b*T*hw+i])
			}
		}
	}
}

func TestVisibleCount(t *testing.T) {
	for _, c := range []struct {
		hw    int
		ratio float64
		want  int
	}{{196, 0.8, 40}, {16, 0.8, 4}, {196, 0.5, 98}, {64, 0.9, 7}, {196, 0, 196}} {
		if got := VisibleCount(c.hw, c.ratio); got != c.want {
			t.Errorf("VisibleCount(%d, %v) = %d, want %d", c.hw, c.ratio, got, c.want)
		}
	}
}

func uniformAttn(frames, hw int) []float32 {
	a := make([]float32, frames*hw)
	for i := range a {
		a[i] = 1 / float32(hw+1)
	}
	return a
}

// TestSampleShapeAndDeterminism: every frame keeps exactly nVis distinct ascending indices; the
// same key gives the same mask, and another epoch or clip gives another.
func TestSampleShapeAndDeterminism(t *testing.T) {
	const frames, hw = 8, 196
	attn := uniformAttn(frames, hw)
	a, err := Sample(attn, frames, hw, 0.8, NewStream(7, "clip-a", 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	for f, row := range a {
		if len(row) != 40 {
			t.Fatalf("frame %d keeps %d, want 40", f, len(row))
		}
		for i := 1; i < len(row); i++ {
			if row[i] <= row[i-1] {
				t.Fatalf("frame %d not strictly ascending: %v", f, row)
			}
		}
	}
	b, _ := Sample(attn, frames, hw, 0.8, NewStream(7, "clip-a", 3, 0))
	if !slices.EqualFunc(a, b, slices.Equal[[]int]) {
		t.Fatal("same (seed, clip, epoch, draw) gave different masks")
	}
	for _, s := range []*Stream{NewStream(7, "clip-a", 4, 0), NewStream(7, "clip-b", 3, 0), NewStream(8, "clip-a", 3, 0), NewStream(7, "clip-a", 3, 1)} {
		c, _ := Sample(attn, frames, hw, 0.8, s)
		if slices.EqualFunc(a, c, slices.Equal[[]int]) {
			t.Fatal("a different key gave the same mask")
		}
	}
}

// TestSampleFollowsAttention: with one visible patch per frame the inclusion probability of
// patch i is exactly w_i/Σw. 40000 draws put each frequency within 5 standard errors.
func TestSampleFollowsAttention(t *testing.T) {
	const hw, n = 5, 40000
	w := []float32{0.4, 0.3, 0.15, 0.1, 0.05}
	counts := make([]int, hw)
	for i := 0; i < n; i++ {
		v, err := Sample(w, 1, hw, 0.8, NewStream(1, "c", i, 0))
		if err != nil {
			t.Fatal(err)
		}
		counts[v[0][0]]++
	}
	for i, c := range counts {
		p := float64(w[i])
		se := math.Sqrt(p * (1 - p) / n)
		if got := float64(c) / n; math.Abs(got-p) > 5*se {
			t.Errorf("patch %d visible with frequency %.4f, want %.4f ± %.4f", i, got, p, 5*se)
		}
	}
}

// TestSampleAmongStaysInStored: the restricted sampler only returns stored tokens, and a stored
// set equal to the whole frame behaves like a full draw (same size, valid indices).
func TestSampleAmongStaysInStored(t *testing.T) {
	const frames, hw = 4, 196
	attn := uniformAttn(frames, hw)
	var draws [][][]int
	for m := 0; m < 3; m++ {
		d, err := Sample(attn, frames, hw, 0.8, NewStream(3, "x", -1, m))
		if err != nil {
			t.Fatal(err)
		}
		draws = append(draws, d)
	}
	stored := Union(draws...)
	for e := 0; e < 20; e++ {
		v, err := SampleAmong(attn, stored, hw, 40, NewStream(3, "x", e, 0))
		if err != nil {
			t.Fatal(err)
		}
		for f := range v {
			in := map[int]bool{}
			for _, p := range stored[f] {
				in[p] = true
			}
			if len(v[f]) != 40 {
				t.Fatalf("frame %d keeps %d", f, len(v[f]))
			}
			for _, p := range v[f] {
				if !in[p] {
					t.Fatalf("epoch %d frame %d: token %d was not stored", e, f, p)
				}
			}
		}
	}
	if _, err := SampleAmong(attn, [][]int{{1, 2}, {1, 2}, {1, 2}, {1, 2}}, hw, 40, NewStream(0, "", 0, 0)); err == nil {
		t.Fatal("drawing 40 among 2 stored tokens did not fail")
	}
}

func TestSampleRejectsBadAttention(t *testing.T) {
	for name, a := range map[string][]float32{
		"nan":      {float32(math.NaN()), 1, 1, 1, 1},
		"negative": {-1, 1, 1, 1, 1},
		"zeros":    {0, 0, 0, 0, 0},
	} {
		if _, err := Sample(a, 1, 5, 0.8, NewStream(0, "", 0, 0)); err == nil {
			t.Errorf("%s attention accepted", name)
		}
	}
	if _, err := Sample(make([]float32, 7), 2, 5, 0.8, NewStream(0, "", 0, 0)); err == nil {
		t.Error("wrong attn length accepted")
	}
}
