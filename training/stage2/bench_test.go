package stage2

import (
	"os"
	"strconv"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/optim"
)

// BenchmarkStage2Step times one full training step (forward and backward of uta + vtc + vtm +
// mlm, then AdamW) on a video batch of 32-token captions (docs/bench/stage2.md; the PyTorch
// side is bench/stage2_cpu.py):
//   - tiny: the reference set's tiny model (ViT 48×3, BERT 32×4 with the real 30522-word
//     vocabulary), 4 clips × 4 frames of 64 px;
//   - b16: the b16_5m preset's ViT-B/16 (drop path 0) with bert-base (fusion from layer 9),
//     2 clips × 4 frames of 224 px (160 visible tokens each), random weights.
//
// UMT_BENCH_THREADS sets the CPU backend's threads (default 2).
func BenchmarkStage2Step(b *testing.B) {
	threads := 2
	if s := os.Getenv("UMT_BENCH_THREADS"); s != "" {
		threads, _ = strconv.Atoi(s)
	}
	tiny := tinyConfig()
	tiny.Text.Vocab = 30522
	b16, err := LoadConfig("b16_5m", []string{"vision.drop_path=0"})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		c    multimodal.Config
		B    int
	}{{"tiny", tiny, 4}, {"b16", b16.Model(bert.Base), 2}} {
		b.Run(bc.name, func(b *testing.B) { benchStep(b, bc.c, bc.B, threads) })
	}
}

func benchStep(b *testing.B, c multimodal.Config, B, threads int) {
	p, rows := synthRows(c, B, c.Vision.Frames, 32, 1)
	idx := make([]int, B)
	for i := range idx {
		idx[i] = i
	}
	batch, err := BuildBatch(Recipe, c, p, rows, idx, 0)
	if err != nil {
		b.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: threads})
	m, err := multimodal.New(be, c, multimodal.Flat{Vision: vit.InitParams(c.Vision, 1), Text: bert.InitParams(c.Text, 2), Heads: multimodal.InitHeads(c, 3)})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	sched, err := optim.NewWarmupCosine(10, 1, 4, 0.01)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(m, sched, 1e-4, 9)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	if _, _, err := tr.TrainStep(batch); err != nil { // the first step allocates workspaces and AdamW state
		b.Fatal(err)
	}
	var l multimodal.Losses
	b.ResetTimer()
	for b.Loop() {
		if l, _, err = tr.TrainStep(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(l.Total, "loss")
	b.ReportMetric(float64(batch.Vision.Visible()), "visible")
	b.ReportMetric(float64(threads), "threads")
}
