package stage1

import (
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/optim"
)

// TestStepBenchStepsAndCountsWork runs the benchmark step on the tiny student and checks it
// trains B clips with the mask ratio's visible tokens, and that its FLOP count is the model's
// formula for that batch; bad shapes are errors that say what to change.
func TestStepBenchStepsAndCountsWork(t *testing.T) {
	c := Config{Model: vit.Tiny, MaskRatio: 0.75, Optim: optim.UMT}
	sb, err := NewStepBench(cpu.New(cpu.Options{Threads: 1}), c, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for i := 0; i < 2; i++ {
		if err := sb.Run(); err != nil {
			t.Fatal(err)
		}
	}
	hw := vit.Tiny.HW()
	wantVis := vit.Tiny.Frames * (hw - int(float64(hw)*0.75))
	if sb.Clips() != 3 || sb.batch.Visible() != wantVis {
		t.Errorf("bench batch: %d clips, %d visible tokens; want 3 and %d", sb.Clips(), sb.batch.Visible(), wantVis)
	}
	if got, want := sb.FLOPs(), 3*vit.Tiny.ForwardFLOPs(3, wantVis); got != want || got <= 0 {
		t.Errorf("FLOPs = %g, want %g", got, want)
	}
	for _, bad := range []struct {
		c    Config
		B    int
		want string
	}{
		{c, 0, "batch 0"},
		{Config{Model: vit.Tiny, MaskRatio: 1, Optim: optim.UMT}, 1, "--set mask_ratio="},
	} {
		if _, err := NewStepBench(cpu.New(cpu.Options{}), bad.c, bad.B); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("NewStepBench(B=%d, ratio %v) error %v, want one saying %q", bad.B, bad.c.MaskRatio, err, bad.want)
		}
	}
}
