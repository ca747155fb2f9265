package stage1

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/optim"
)

// BenchmarkStep times one stage-1 training step on the CPU backend (forward over the visible
// tokens, loss, backward, grad norm, AdamW) for the tiny and the ViT-B/16 student, with the same
// shapes as bench/stage1_cpu.py: B clips (UMT_BENCH_BATCH, default 2), 80 % masked, drop path 0.
// Reports s/step and the achieved GFLOP/s (3× forward matmul FLOPs). The workload is StepBench,
// the one `umt bench step` runs.
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
			sb, err := NewStepBench(cpu.New(cpu.Options{}), Config{Model: c.cfg, MaskRatio: 0.8, Optim: optim.UMT}, B)
			if err != nil {
				b.Fatal(err)
			}
			defer sb.Close()
			if err := sb.Run(); err != nil { // allocates the workspace
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := sb.Run(); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(sec, "s/step")
			b.ReportMetric(sb.FLOPs()/sec/1e9, "GFLOP/s")
		})
	}
}
