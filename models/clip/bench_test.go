package clip

import (
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// BenchmarkTeacherViTB16 measures ViT-B/16 teacher throughput at 224² with random weights on the
// CPU backend (all of GOMAXPROCS), reporting images/s. Compare with bench/teacher_cpu.py at the
// same thread count; see docs/bench/teacher.md.
//
//	go test -run XXX -bench TeacherViTB16 -benchtime 3x ./models/clip
func BenchmarkTeacherViTB16(b *testing.B) {
	for _, bc := range []struct {
		name   string
		pureGo bool
	}{{"openblas", false}, {"purego", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := ViTB16.WithDefaults()
			w, err := RandomWeights(cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			be := cpu.New(cpu.Options{PureGo: bc.pureGo})
			tch, err := New(be, cfg, w, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer tch.Close()
			const B, T = 1, 8
			frames := make([]byte, B*T*224*224*3)
			r := rand.New(rand.NewPCG(1, 1))
			for i := range frames {
				frames[i] = byte(r.UintN(256))
			}
			nf, na := tch.Sizes(B, T)
			feats, attn := make([]float32, nf), make([]float32, na)
			if err := tch.EncodeTo(feats, attn, frames, B, T, 224, 224); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := tch.EncodeTo(feats, attn, frames, B, T, 224, 224); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*B*T)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
