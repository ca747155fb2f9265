package vit

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// Tolerances (README of the reference set): float32 with a different summation order lands
// within ~1e-6 of the float64 truth; 1e-4·max|ref| for activations and outputs, 1e-5 relative for
// the loss, 1e-3·max|ref| per gradient tensor (GEMM blocking differs from PyTorch's).
const (
	tolAct  = 1e-4
	tolLoss = 1e-5
	tolGrad = 1e-3
)

// TestSinusoidMatchesReference: both fixed tables equal the stored const.* bit for bit.
func TestSinusoidMatchesReference(t *testing.T) {
	r := loadRef(t)
	for _, name := range []string{"const.encoder.pos_embed", "const.clip_pos_embed"} {
		ref := r.get(t, r.weights, name)
		n, d := ref.Shape[1], ref.Shape[2]
		got := Sinusoid(n, d)
		for i := range got {
			if got[i] != ref.F32[i] {
				t.Fatalf("%s[%d, %d] = %v (bits %08x), reference %v (bits %08x)", name, i/d, i%d,
					got[i], math.Float32bits(got[i]), ref.F32[i], math.Float32bits(ref.F32[i]))
			}
		}
	}
}

// TestStateDictNamesAndShapes: our export names and shapes are exactly the official
// state_dict's (the reference weights minus the const.* tables), and load → export round-trips.
func TestStateDictNamesAndShapes(t *testing.T) {
	r := loadRef(t)
	var ref []string
	for n := range r.weights {
		if !strings.HasPrefix(n, "const.") {
			ref = append(ref, n)
		}
	}
	ours := StateNames(r.cfg)
	sort.Strings(ref)
	sorted := append([]string(nil), ours...)
	sort.Strings(sorted)
	if strings.Join(sorted, "\n") != strings.Join(ref, "\n") {
		t.Fatalf("names differ:\nours %v\nref  %v", sorted, ref)
	}
	flat, err := ParamsFromState(r.cfg, weightstest.Map(r.weights))
	if err != nil {
		t.Fatal(err)
	}
	sd, err := StateFromParams(r.cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range ours {
		if sd[i].Name != n || !slices.Equal(sd[i].Shape, r.weights[n].Shape) {
			t.Errorf("state dict entry %d: %s %v, official %s %v", i, sd[i].Name, sd[i].Shape, n, r.weights[n].Shape)
			continue
		}
		got, err := sd[i].Float32()
		if err != nil {
			t.Fatal(err)
		}
		for j, v := range got {
			if v != r.weights[n].F32[j] {
				t.Fatalf("%s[%d] = %v after round trip, want %v", n, j, v, r.weights[n].F32[j])
			}
		}
	}
	bad := weightstest.Map(r.weights)
	delete(bad, "encoder.norm.bias")
	if _, err := ParamsFromState(r.cfg, bad); err == nil {
		t.Error("a state dict missing encoder.norm.bias was accepted")
	}
	short := weights.F32Tensor("encoder.norm.bias", []int{7}, make([]float32, 7))
	bad["encoder.norm.bias"] = &short
	if _, err := ParamsFromState(r.cfg, bad); err == nil {
		t.Error("a wrongly shaped encoder.norm.bias was accepted")
	}
}

// TestReferenceParity runs the student on the reference input and mask and compares every
// stored activation, the outputs, the loss and the gradient of every parameter.
func TestReferenceParity(t *testing.T) {
	r := loadRef(t)
	be := cpu.New(cpu.Options{})
	flat, err := ParamsFromState(r.cfg, weightstest.Map(r.weights))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(be, r.cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	b := r.batch(t)
	loss, err := m.Step(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, w := r.cfg, m.ws
	down := func(buf interface{ Len() int }, get func([]float32) error) []float32 {
		out := make([]float32, buf.Len())
		if err := get(out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for l := 0; l < c.Depth; l++ {
		got := down(w.xs[l], func(o []float32) error { return be.Download(o, w.xs[l]) })
		checkClose(t, "block_out."+itoa(l), got, r.get(t, r.io, "block_out."+itoa(l)).F32, tolAct)
	}
	got := down(w.nrm, func(o []float32) error { return be.Download(o, w.nrm) })
	checkClose(t, "x_clip_vis_normed", got, r.get(t, r.io, "x_clip_vis_normed").F32, tolAct)
	M, C, D := w.M, c.ClipDim, c.Dim
	for k := 0; k < c.ReturnLayers; k++ {
		z := down(w.z.View(k*M*D, M*D), func(o []float32) error { return be.Download(o, w.z.View(k*M*D, M*D)) })
		checkClose(t, "decoder."+itoa(k)+".input", z, r.get(t, r.io, "decoder."+itoa(k)+".input").F32, tolAct)
		u := down(w.u.View(k*M*C, M*C), func(o []float32) error { return be.Download(o, w.u.View(k*M*C, M*C)) })
		checkClose(t, "decoder."+itoa(k)+".head_out", u, r.get(t, r.io, "decoder."+itoa(k)+".head_out").F32, tolAct)
	}
	out, err := m.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "outputs_clip", out, r.get(t, r.io, "outputs_clip").F32, tolAct)
	refLoss := float64(r.get(t, r.io, "loss").F32[0])
	if rel := math.Abs(loss-refLoss) / math.Abs(refLoss); rel > tolLoss {
		t.Errorf("loss %.9g, reference %.9g, rel err %.3g > %g", loss, refLoss, rel, tolLoss)
	}
	grads, err := m.DownloadGrads()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range m.Params() {
		ref := r.get(t, r.io, "grad."+p.Name)
		checkClose(t, "grad."+p.Name, grads[p.Off:p.Off+p.Len], ref.F32, tolGrad)
		n++
	}
	if n != len(StateNames(c)) {
		t.Fatalf("checked %d gradients", n)
	}
	var ss float64
	for _, p := range m.Params() {
		for _, g := range r.get(t, r.io, "grad."+p.Name).F32 {
			ss += float64(g) * float64(g)
		}
	}
	gn, err := m.GradNorm()
	if err != nil {
		t.Fatal(err)
	}
	if want := math.Sqrt(ss); math.Abs(gn-want) > 1e-5*want {
		t.Errorf("grad norm %.8g, reference gradients give %.8g", gn, want)
	}
	m.Close()
	if s := be.Stats(); s.LiveBytes != 0 || s.LiveAllocs != 0 {
		t.Errorf("backend holds %d bytes in %d allocations after Close", s.LiveBytes, s.LiveAllocs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
