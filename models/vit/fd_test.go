package vit

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// TestModelGradientFD checks the whole backward pass with drop path active (which the
// reference set, run at drop_path 0, does not cover): for sampled elements of every parameter
// tensor the analytic gradient must match a central difference of the float32 loss with step
// 1e-2. Rounding noise of the quotient is ~1e-7·loss/h ≈ 2e-5 and truncation O(h²), so the
// tolerance is 2e-2 of the tensor's largest gradient, or 2e-4 absolute. It runs the recipe's
// last-K blocks and the return intervals 2 and 3, whose aligned blocks are not adjacent (blocks
// [1 3] of 4 and [1 4] of 5), so that the gradient of every decoder enters the residual stream
// at its own block and skipped blocks get only what flows back through later ones.
func TestModelGradientFD(t *testing.T) {
	base := Config{ImgSize: 32, Patch: 8, Frames: 2, Tubelet: 1, Dim: 16, Depth: 3, Heads: 2, MLPRatio: 2, ClipDim: 8, ReturnLayers: 2, DropPath: 0.5}
	for _, c := range []struct {
		name         string
		depth        int
		interval     float64
		wantReturned []int
	}{
		{"interval 1", 3, 1, []int{1, 2}},
		{"interval 2", 4, 2, []int{1, 3}},
		{"interval 3", 5, 3, []int{1, 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.Depth, cfg.ReturnInterval = c.depth, c.interval
			if got := cfg.ReturnIndex(); !slices.Equal(got, c.wantReturned) {
				t.Fatalf("returned blocks %v, want %v", got, c.wantReturned)
			}
			checkGradientFD(t, cfg)
		})
	}
}

func checkGradientFD(t *testing.T, cfg Config) {
	be := cpu.New(cpu.Options{Threads: 2})
	r := rand.New(rand.NewPCG(1, 1))
	flat := InitParams(cfg, 5)
	for i := range flat {
		flat[i] += float32(0.05 * r.NormFloat64()) // move LN/bias params off their init values
	}
	m, err := New(be, cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := randomBatch(cfg, r, 3, []int32{0, 3, 5, 16, 17, 30})
	const key = 12345 // drop-path draws; with rate 0.5 some samples drop some branches
	if _, err := m.Step(b, key); err != nil {
		t.Fatal(err)
	}
	if !m.ws.dropOn {
		t.Fatal("drop path is not active")
	}
	grads, _ := m.DownloadGrads()
	loss := func() float64 {
		if err := m.Forward(b, true, key); err != nil {
			t.Fatal(err)
		}
		l, err := m.Loss(b.Targets)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	compareFD(t, m, grads, be.Data(m.w), loss, r, 3, 2e-4)
}

// compareFD checks sampled elements of every parameter tensor: the analytic gradient against
// a central difference of loss with step 1e-2, within 2e-2 of the tensor's largest gradient or
// abs absolute (rounding noise of the quotient ~1e-7·loss/h, truncation O(h²)).
func compareFD(t *testing.T, m *Model, grads, w []float32, loss func() float64, r *rand.Rand, samples int, abs float64) {
	t.Helper()
	const h = 1e-2
	for _, p := range m.Params() {
		var scale float64
		for _, g := range grads[p.Off : p.Off+p.Len] {
			scale = math.Max(scale, math.Abs(float64(g)))
		}
		tol := math.Max(2e-2*scale, abs)
		for s := 0; s < samples; s++ {
			i := p.Off + r.IntN(p.Len)
			x0 := w[i]
			w[i] = x0 + h
			lp := loss()
			w[i] = x0 - h
			lm := loss()
			w[i] = x0
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(fd - float64(grads[i])); d > tol {
				t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g (|diff| %.3g > %.3g)", p.Name, i-p.Off, grads[i], fd, d, tol)
			}
		}
	}
}
