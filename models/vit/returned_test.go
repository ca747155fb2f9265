package vit

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// TestDecodersReadTheReturnedBlocks: with return intervals 1, 2 and 3, decoder k is fed the
// shared final norm of block ReturnIndex()[k] (the official student stacks the blocks whose
// index is in [depth-1-int(i*interval)] in forward order and gives stack entry k to decoder k),
// and no other block; the loss is the plain mean of 2 − 2⟨s, t⟩ over K layers, B clips and nv
// visible tokens, as the official engine's .mean().
func TestDecodersReadTheReturnedBlocks(t *testing.T) {
	for _, c := range []struct {
		depth, k int
		interval float64
		want     []int // worked out by hand from the official rule
	}{
		{3, 2, 1, []int{1, 2}},
		{4, 2, 2, []int{1, 3}},
		{7, 3, 2, []int{2, 4, 6}},
		{5, 2, 3, []int{1, 4}},
		{7, 3, 3, []int{0, 3, 6}},
		{6, 3, 1.5, []int{2, 4, 5}}, // blocks 5−int(0), 5−int(1.5), 5−int(3.0) = 5, 4, 2
	} {
		cfg := Config{ImgSize: 32, Patch: 8, Frames: 2, Tubelet: 1, Dim: 16, Depth: c.depth, Heads: 2, MLPRatio: 2, ClipDim: 8, ReturnLayers: c.k, ReturnInterval: c.interval}
		if got := cfg.ReturnIndex(); !slices.Equal(got, c.want) {
			t.Errorf("depth %d, K %d, interval %v: blocks %v, official %v", c.depth, c.k, c.interval, got, c.want)
			continue
		}
		checkDecoderInputs(t, cfg)
	}
}

func checkDecoderInputs(t *testing.T, cfg Config) {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: 1})
	r := rand.New(rand.NewPCG(3, uint64(cfg.Depth)))
	flat := InitParams(cfg, 9)
	for i := range flat {
		flat[i] += float32(0.05 * r.NormFloat64())
	}
	m, err := New(be, cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	B, toks := 2, []int32{1, 4, 9, 17, 22, 30}
	b := randomBatch(cfg, r, B, toks)
	K, C, D, M := cfg.ReturnLayers, cfg.ClipDim, cfg.Dim, B*len(toks)
	if err := m.Forward(b, false, 0); err != nil {
		t.Fatal(err)
	}
	loss, err := m.Loss(b.Targets)
	if err != nil {
		t.Fatal(err)
	}
	var gamma, beta []float32
	for _, p := range m.Params() {
		switch p.Name {
		case "encoder.norm.weight":
			gamma = flat[p.Off : p.Off+p.Len]
		case "encoder.norm.bias":
			beta = flat[p.Off : p.Off+p.Len]
		}
	}
	normed := make([][]float32, cfg.Depth) // host LayerNorm of every block's output
	for l := range normed {
		normed[l] = layerNorm(be.Data(m.ws.xs[l]), gamma, beta, M, D)
	}
	for k, l := range cfg.ReturnIndex() {
		got := be.Data(m.ws.nrm.View(k*M*D, M*D))
		for j := range normed {
			d := maxAbsDiff(got, normed[j])
			if (j == l) != (d < 1e-4) {
				t.Errorf("depth %d interval %v: decoder %d vs norm(block %d): max|diff| %.3g; decoder %d must read block %d only", cfg.Depth, cfg.ReturnInterval, k, j, d, k, l)
			}
		}
	}
	out, _ := m.Outputs()
	var sum float64
	for row := 0; row < K*M; row++ {
		var dot float64
		for c := 0; c < C; c++ {
			dot += float64(out[row*C+c]) * float64(b.Targets[row*C+c])
		}
		sum += 2 - 2*dot
	}
	if want := sum / float64(K*M); math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("depth %d interval %v: loss %.7g, mean over K·B·nv of 2−2⟨s,t⟩ is %.7g", cfg.Depth, cfg.ReturnInterval, loss, want)
	}
}

func layerNorm(x, g, b []float32, rows, d int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		row := x[i*d : (i+1)*d]
		var mean, vr float64
		for _, v := range row {
			mean += float64(v)
		}
		mean /= float64(d)
		for _, v := range row {
			vr += (float64(v) - mean) * (float64(v) - mean)
		}
		rstd := 1 / math.Sqrt(vr/float64(d)+Eps)
		for j, v := range row {
			out[i*d+j] = float32((float64(v)-mean)*rstd)*g[j] + b[j]
		}
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// randomBatch is B clips of N(0,1) video, each with the visible tokens toks, and unit random
// targets.
func randomBatch(cfg Config, r *rand.Rand, B int, toks []int32) Batch {
	b := Batch{B: B}
	for i := 0; i < B; i++ {
		video := make([]float32, 3*cfg.Frames*cfg.ImgSize*cfg.ImgSize)
		for j := range video {
			video[j] = float32(r.NormFloat64())
		}
		p, _ := Patchify(cfg, video, toks)
		b.Patches = append(b.Patches, p...)
		b.Tokens = append(b.Tokens, toks...)
	}
	b.Targets = unitTargets(r, cfg.ReturnLayers*B*len(toks), cfg.ClipDim)
	return b
}

// unitTargets is n random unit vectors of dimension c.
func unitTargets(r *rand.Rand, n, c int) []float32 {
	out := make([]float32, n*c)
	for i := 0; i < len(out); i += c {
		var ss float64
		for j := i; j < i+c; j++ {
			out[j] = float32(r.NormFloat64())
			ss += float64(out[j]) * float64(out[j])
		}
		for j := i; j < i+c; j++ {
			out[j] /= float32(math.Sqrt(ss))
		}
	}
	return out
}
