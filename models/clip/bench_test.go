package clip

import (
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// BenchmarkTeacherViTB16 measures ViT-B/16 teacher throughput at 224² with random weights on the
// CPU backend (all of GOMAXPROCS), reporting images/s. Compare with bench/teacher_cpu.py at the
// same thread count; see docs/bench/teacher.md. The workload is Bench, the one `umt bench
// teacher` runs.
//
//	go test -run XXX -bench TeacherViTB16 -benchtime 3x ./models/clip
func BenchmarkTeacherViTB16(b *testing.B) {
	for _, bc := range []struct {
		name   string
		pureGo bool
	}{{"openblas", false}, {"purego", true}} {
		b.Run(bc.name, func(b *testing.B) {
			sh := BenchShape{B: 1, T: 8, Size: 224}
			wl, err := NewBench(cpu.New(cpu.Options{PureGo: bc.pureGo}), ViTB16, nil, sh)
			if err != nil {
				b.Fatal(err)
			}
			defer wl.Close()
			if err := wl.Run(); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := wl.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*sh.B*sh.T)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
