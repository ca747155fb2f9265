package stage1

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/optim"
	"github.com/umt-dev/umt/transforms/masks"
)

// BenchmarkStep times one stage-1 training step on the CPU backend (forward over the visible
// tokens, loss, backward, grad norm, AdamW) for the tiny and the ViT-B/16 student, with the same
// shapes as bench/stage1_cpu.py: B clips (UMT_BENCH_BATCH, default 2), 80 % masked, drop path 0.
// Reports s/step and the achieved GFLOP/s (3× forward matmul FLOPs).
//
//	go test ./training/stage1 -run '^$' -bench Step -benchtime 3x
func BenchmarkStep(b *testing.B) {
	B := 2
	if v, err := strconv.Atoi(os.Getenv("UMT_BENCH_BATCH")); err == nil && v > 0 {
		B = v
	}
	for _, c := range []struct {
		name string
		cfg  vit.Config
	}{{"tiny", vit.Tiny}, {"b16", vit.Base16}} {
		b.Run(fmt.Sprintf("%s/B=%d", c.name, B), func(b *testing.B) {
			cfg := c.cfg
			cfg.DropPath = 0
			be := cpu.New(cpu.Options{})
			m, err := vit.New(be, cfg, vit.InitParams(cfg, 1))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			do, dl, ro, rl := m.Groups()
			opt, _ := optim.NewAdamW(be, cfg.Params(), []optim.Group{{Off: do, Len: dl, Decay: true}, {Off: ro, Len: rl}}, optim.UMT)
			defer opt.Close()
			batch := randomBatch(cfg, B)
			step := func() {
				if _, err := m.Step(batch, 1); err != nil {
					b.Fatal(err)
				}
				gn, err := m.GradNorm()
				if err != nil || math.IsNaN(gn) {
					b.Fatal(err)
				}
				if err := opt.Update(m.Weights(), m.Grads(), 1e-4, 1); err != nil {
					b.Fatal(err)
				}
			}
			step() // allocates the workspace
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec, "s/step")
			b.ReportMetric(3*cfg.ForwardFLOPs(B, batch.Visible())/sec/1e9, "GFLOP/s")
		})
	}
}

// randomBatch draws B clips of random normalised pixels, a uniform-attention mask and unit
// targets.
func randomBatch(cfg vit.Config, B int) vit.Batch {
	r := rand.New(rand.NewPCG(1, 2))
	hw, T := cfg.HW(), cfg.Frames
	attn := make([]float32, T*hw)
	for i := range attn {
		attn[i] = 1
	}
	var b vit.Batch
	b.B = B
	for i := 0; i < B; i++ {
		vis, _ := masks.Sample(attn, T, hw, 0.8, masks.NewStream(1, strconv.Itoa(i), 0, 0))
		var toks []int32
		for _, t := range masks.TokenIndex(vis, hw) {
			toks = append(toks, int32(t))
		}
		video := make([]float32, 3*T*cfg.ImgSize*cfg.ImgSize)
		for j := range video {
			video[j] = float32(r.NormFloat64())
		}
		p, _ := vit.Patchify(cfg, video, toks)
		b.Tokens = append(b.Tokens, toks...)
		b.Patches = append(b.Patches, p...)
	}
	nv := b.Visible()
	b.Targets = make([]float32, cfg.ReturnLayers*B*nv*cfg.ClipDim)
	for i := 0; i < len(b.Targets); i += cfg.ClipDim {
		var ss float64
		for j := i; j < i+cfg.ClipDim; j++ {
			b.Targets[j] = float32(r.NormFloat64())
			ss += float64(b.Targets[j]) * float64(b.Targets[j])
		}
		for j := i; j < i+cfg.ClipDim; j++ {
			b.Targets[j] /= float32(math.Sqrt(ss))
		}
	}
	return b
}
