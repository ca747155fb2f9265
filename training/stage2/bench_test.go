package stage2

import (
	"testing"

	"github.com/umt-dev/umt/models/multimodal"
)

// BenchmarkStage2StepTiny times one full training step (forward and backward of
// uta + vtc + vtm + mlm, then AdamW) of the reference set's tiny model (ViT 48×3, BERT 32×4 with
// the real 30522-word vocabulary) on a video batch of 4 clips × 4 frames of 64 px, 32 tokens.
func BenchmarkStage2StepTiny(b *testing.B) {
	c := tinyConfig()
	c.Text.Vocab = 30522
	p, rows := synthRows(c, 4, c.Vision.Frames, 32, 1)
	batch, err := BuildBatch(Recipe, c, p, rows, []int{0, 1, 2, 3}, 0)
	if err != nil {
		b.Fatal(err)
	}
	tr, _ := newTrainer(b, c, 1e-4)
	var l multimodal.Losses
	b.ResetTimer()
	for b.Loop() {
		if l, _, err = tr.TrainStep(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(l.Total, "loss")
}
