package vit

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

var stage2Small = Config{ImgSize: 32, Patch: 8, Frames: 2, Tubelet: 1, Dim: 16, Depth: 3, Heads: 2, MLPRatio: 2, ClipDim: 8, ReturnLayers: 2, Stage2: true}

// hostPool is pool_norm(mean of groups of cnt consecutive rows) in float64.
func hostPool(x []float32, rows, cnt, D int, gamma, beta []float32) []float64 {
	out := make([]float64, 0, rows/cnt*D)
	for g := 0; g < rows/cnt; g++ {
		mean := make([]float64, D)
		for r := g * cnt; r < (g+1)*cnt; r++ {
			for j := 0; j < D; j++ {
				mean[j] += float64(x[r*D+j]) / float64(cnt)
			}
		}
		var mu, v float64
		for _, m := range mean {
			mu += m / float64(D)
		}
		for _, m := range mean {
			v += (m - mu) * (m - mu) / float64(D)
		}
		for j, m := range mean {
			out = append(out, (m-mu)/math.Sqrt(v+Eps)*float64(gamma[j])+float64(beta[j]))
		}
	}
	return out
}

// TestPooledIsPoolNormOfTokenMeans: in training (a mask, keep_temporal off) a stage-2 encoder
// pools one vector per clip over all its visible tokens; in the test path (every token,
// keep_temporal) one per frame over that frame's tokens, images (T = 1) included; both are
// pool_norm of the means of vision_embeds.
func TestPooledIsPoolNormOfTokenMeans(t *testing.T) {
	c := stage2Small
	be := cpu.New(cpu.Options{Threads: 2})
	r := rand.New(rand.NewPCG(3, 3))
	flat := InitParams(c, 9)
	for i := range flat {
		flat[i] += float32(0.1 * r.NormFloat64())
	}
	m, err := New(be, c, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	all := make([]int32, c.Tokens())
	for i := range all {
		all[i] = int32(i)
	}
	var pw, pb []float32
	for _, p := range m.Params() {
		switch p.Name {
		case "pool_norm.weight":
			pw = flat[p.Off : p.Off+p.Len]
		case "pool_norm.bias":
			pb = flat[p.Off : p.Off+p.Len]
		}
	}
	for _, tc := range []struct {
		name   string
		frames int
		tokens []int32
		keep   bool
		groups int // pooled vectors per clip
	}{
		{"masked video", 2, []int32{1, 4, 9, 17, 20, 30}, false, 1},
		{"full video keep_temporal", 2, all, true, 2},
		{"full image keep_temporal", 1, all[:c.HW()], true, 1},
		{"masked image", 1, []int32{0, 5, 7, 15}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := randomBatch(c, r, 2, tc.tokens)
			b.Frames, b.KeepTemporal = tc.frames, tc.keep
			if err := m.Forward(b, true, 0); err != nil {
				t.Fatal(err)
			}
			ve, pooled := make([]float32, m.VisionEmbeds().Len()), make([]float32, m.Pooled().Len())
			if err := be.Download(ve, m.VisionEmbeds()); err != nil {
				t.Fatal(err)
			}
			if err := be.Download(pooled, m.Pooled()); err != nil {
				t.Fatal(err)
			}
			rows := len(b.Tokens)
			want := hostPool(ve, rows, rows/(b.B*tc.groups), c.Dim, pw, pb)
			if len(want) != len(pooled) {
				t.Fatalf("pooled has %d values, want %d", len(pooled), len(want))
			}
			for i := range want {
				if d := math.Abs(float64(pooled[i]) - want[i]); d > 1e-5 {
					t.Fatalf("pooled[%d] = %v, pool_norm of the means gives %v", i, pooled[i], want[i])
				}
			}
		})
	}
}

// TestStage2BackwardFD checks BackwardWith: the gradient of UTA + ⟨a, pooled⟩ + ⟨e,
// vision_embeds⟩ for fixed random a, e against central differences, on a masked video, an
// image and the keep_temporal path.
func TestStage2BackwardFD(t *testing.T) {
	c := stage2Small
	be := cpu.New(cpu.Options{Threads: 2})
	r := rand.New(rand.NewPCG(4, 4))
	flat := InitParams(c, 11)
	for i := range flat {
		flat[i] += float32(0.05 * r.NormFloat64())
	}
	m, err := New(be, c, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct {
		name   string
		frames int
		tokens []int32
		keep   bool
	}{
		{"masked video", 2, []int32{1, 4, 9, 17, 20, 30}, false},
		{"image", 1, []int32{0, 5, 7, 15}, false},
		{"keep_temporal", 2, []int32{0, 3, 6, 16, 19, 22}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := randomBatch(c, r, 2, tc.tokens)
			b.Frames, b.KeepTemporal = tc.frames, tc.keep
			if err := m.Forward(b, true, 0); err != nil {
				t.Fatal(err)
			}
			a := make([]float32, m.Pooled().Len())
			e := make([]float32, m.VisionEmbeds().Len())
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			for i := range e {
				e[i] = float32(r.NormFloat64())
			}
			da, de := be.Alloc(len(a)), be.Alloc(len(e))
			defer be.Free(da)
			defer be.Free(de)
			be.Upload(da, a)
			be.Upload(de, e)
			loss := func() float64 {
				if err := m.Forward(b, true, 0); err != nil {
					t.Fatal(err)
				}
				l, err := m.UTALoss(b.Targets)
				if err != nil {
					t.Fatal(err)
				}
				ve, pooled := be.Data(m.VisionEmbeds()), be.Data(m.Pooled())
				for i := range a {
					l += float64(a[i]) * float64(pooled[i])
				}
				for i := range e {
					l += float64(e[i]) * float64(ve[i])
				}
				return l
			}
			m.ZeroGrads()
			loss()
			if err := m.BackwardWith(de, da); err != nil {
				t.Fatal(err)
			}
			grads, _ := m.DownloadGrads()
			compareFD(t, m, grads, be.Data(m.w), loss, r, 2, 5e-4)
		})
	}
}

// TestUTALossIgnoresTargetScale: UTALoss normalises the teacher features itself, so raw
// features (the multi_modality teacher's output), unit ones (what prep stores) and any
// positive rescaling give the same loss.
func TestUTALossIgnoresTargetScale(t *testing.T) {
	c := stage2Small
	be := cpu.New(cpu.Options{Threads: 2})
	r := rand.New(rand.NewPCG(5, 5))
	m, err := New(be, c, InitParams(c, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := randomBatch(c, r, 2, []int32{1, 4, 9, 17})
	if err := m.Forward(b, true, 0); err != nil {
		t.Fatal(err)
	}
	unit, err := m.UTALoss(b.Targets)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]float32, len(b.Targets))
	for i := range raw {
		raw[i] = b.Targets[i] * float32(0.5+3*float64(i/c.ClipDim%7))
	}
	scaled, err := m.UTALoss(raw)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(unit-scaled) > 1e-6 {
		t.Errorf("UTA loss %v on unit targets, %v on rescaled ones", unit, scaled)
	}
}
