package bert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
)

// fdCase is a small random problem that exercises every backward of the package at once: text
// mode on ids with padding, fusion mode over vision tokens with a partly masked vision memory,
// and the MLM head, under the loss
//
//	loss = MLM(fusion(text(ids), v)) + Σ R⊙fusion_out + Σ S⊙text_out
//
// whose probes R and S give the fusion input and text output gradients of their own.
type fdCase struct {
	cfg       Config
	txt       Text
	labels    []int32
	visMask   []int32
	N         int
	R, S, vis []float32
}

func newFDCase(r *rand.Rand) fdCase {
	cfg := Config{Hidden: 16, Layers: 3, Heads: 2, Intermediate: 24, Vocab: 40, MaxPosition: 10, TypeVocab: 2, Eps: 1e-12, FusionLayer: 1, EncoderWidth: 12}
	B, L, N := 2, 6, 5
	c := fdCase{cfg: cfg, N: N, txt: Text{B: B, L: L}}
	for b := 0; b < B; b++ {
		n := L - 2*b // clip 1 has two pad tokens
		for l := 0; l < L; l++ {
			id, m, lbl := int32(0), int32(0), int32(IgnoreIndex)
			if l < n {
				id, m = int32(1+r.IntN(cfg.Vocab-1)), 1
				if l > 0 && r.IntN(2) == 0 {
					lbl = int32(r.IntN(cfg.Vocab))
				}
			}
			c.txt.IDs, c.txt.Mask, c.labels = append(c.txt.IDs, id), append(c.txt.Mask, m), append(c.labels, lbl)
		}
		for j := 0; j < N; j++ {
			c.visMask = append(c.visMask, map[bool]int32{true: 0, false: 1}[b == 1 && j == N-1])
		}
	}
	c.labels[1] = 7 // at least one label
	c.R = randn(r, B*L*cfg.Hidden, 0.3)
	c.S = randn(r, B*L*cfg.Hidden, 0.3)
	c.vis = randn(r, B*N*cfg.EncoderWidth, 1)
	return c
}

func randn(r *rand.Rand, n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s * r.NormFloat64())
	}
	return v
}

func dot(be *cpu.Backend, b kernels.Buf, w []float32) float64 {
	var s float64
	for i, x := range be.Data(b) {
		s += float64(x) * float64(w[i])
	}
	return s
}

// chain is the case's MLM path run forward: text mode, fusion over the vision tokens, head.
type chain struct {
	tp, fp *Pass
	mp     *MLMPass
}

func (c fdCase) forward(t *testing.T, m *Model, vis kernels.Buf) chain {
	t.Helper()
	var ch chain
	var err error
	if ch.tp, err = m.Text(c.txt); err != nil {
		t.Fatal(err)
	}
	if ch.fp, err = m.Fusion(ch.tp.Out(), c.txt.Mask, c.txt.B, c.txt.L, Vision{N: c.N, Tokens: vis, Mask: c.visMask}); err != nil {
		t.Fatal(err)
	}
	if ch.mp, err = m.MLM(ch.fp.Out(), c.txt.B, c.txt.L, c.labels); err != nil {
		t.Fatal(err)
	}
	return ch
}

func (ch chain) close() {
	ch.mp.Close()
	ch.fp.Close()
	ch.tp.Close()
}

// run computes the loss; with grad it also back-propagates into the model's Grads and returns
// the gradient with respect to the vision tokens.
func (c fdCase) run(t *testing.T, m *Model, be *cpu.Backend, vis kernels.Buf, grad bool) (float64, []float32) {
	t.Helper()
	ch := c.forward(t, m, vis)
	defer ch.close()
	tp, fp, mp := ch.tp, ch.fp, ch.mp
	loss := mp.Loss() + dot(be, fp.Out(), c.R) + dot(be, tp.Out(), c.S)
	if !grad {
		return loss, nil
	}
	if err := mp.Backward(); err != nil {
		t.Fatal(err)
	}
	dF := be.Alloc(fp.Out().Len())
	defer be.Free(dF)
	be.Upload(dF, c.R)
	be.Add(dF, dF, mp.DHidden())
	if err := fp.Backward(dF); err != nil {
		t.Fatal(err)
	}
	dT := be.Alloc(tp.Out().Len())
	defer be.Free(dT)
	be.Upload(dT, c.S)
	be.Add(dT, dT, fp.DIn())
	if err := tp.Backward(dT); err != nil {
		t.Fatal(err)
	}
	return loss, append([]float32(nil), be.Data(fp.DVision())...)
}

// TestGradientsMatchFiniteDifferences checks every backward of the package (embeddings with
// scatter-add into the word and position tables, post-LN self-attention with padding,
// cross-attention with a masked vision token, exact-GELU FFN, the MLM head with the tied decoder
// and its ignore-index cross-entropy) and the inputs' gradients: for sampled elements of every
// parameter tensor and of the vision tokens the analytic gradient must match a central
// difference of the float32 loss with step 1e-2 (rounding noise ~1e-7·loss/h ≈ 1e-5, truncation
// O(h²)), within 2e-2 of the tensor's largest gradient or 3e-4 absolute. The per-tensor check of
// the word table also covers the rows no token reads, whose only gradient is the decoder's.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := newFDCase(r)
	flat := InitParams(c.cfg, 9)
	for i := range flat {
		flat[i] += float32(0.2 * r.NormFloat64()) // far from the init: LN weights ≠ 1, biases ≠ 0
	}
	m, be := newModel(t, c.cfg, flat)
	vis := be.Alloc(len(c.vis))
	defer be.Free(vis)
	be.Upload(vis, c.vis)
	m.ZeroGrads()
	_, dVis := c.run(t, m, be, vis, true)
	grads, err := m.DownloadGrads()
	if err != nil {
		t.Fatal(err)
	}
	const h = 1e-2
	fd := func(x []float32, i int) float64 {
		x0 := x[i]
		x[i] = x0 + h
		lp, _ := c.run(t, m, be, vis, false)
		x[i] = x0 - h
		lm, _ := c.run(t, m, be, vis, false)
		x[i] = x0
		return (lp - lm) / (2 * h)
	}
	check := func(name string, x, g []float32, samples []int) {
		var scale float64
		for _, v := range g {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		tol := math.Max(2e-2*scale, 3e-4)
		for _, i := range samples {
			if d := math.Abs(fd(x, i) - float64(g[i])); d > tol {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g (|diff| %.3g > %.3g)", name, i, g[i], fd(x, i), d, tol)
			}
		}
	}
	w := be.Data(m.w)
	for _, p := range m.Params() {
		samples := []int{r.IntN(p.Len), r.IntN(p.Len), r.IntN(p.Len)}
		if p.Name == "bert.embeddings.word_embeddings.weight" {
			samples = append(samples, int(c.txt.IDs[0])*c.cfg.Hidden+1, 39*c.cfg.Hidden+2) // a used row and (likely) an unused one
		}
		check(p.Name, w[p.Off:p.Off+p.Len], grads[p.Off:p.Off+p.Len], samples)
	}
	v := be.Data(vis)
	var samples []int
	for k := 0; k < 6; k++ {
		samples = append(samples, r.IntN(len(v)))
	}
	check("vision tokens", v, dVis, samples)
	// The masked vision token of clip 1 gets no gradient (the kernels' softmax clamps exp at
	// float32's smallest normal, so "none" is below 1e-30 rather than exactly 0).
	W := c.cfg.EncoderWidth
	for j, g := range dVis[(2*c.N-1)*W : 2*c.N*W] {
		if math.Abs(float64(g)) > 1e-30 {
			t.Fatalf("masked vision token: gradient %g at %d, want none", g, j)
		}
	}
}
