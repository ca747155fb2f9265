package stage2

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
)

// rowSource is an in-memory dataset.
type rowSource []schemas.ClipRow

func (s rowSource) Len() int { return len(s) }
func (s rowSource) Row(_ context.Context, i int) (schemas.ClipRow, error) {
	return s[i], nil
}

// twoCorpora are a video corpus of 6 clips and an image corpus of 4, with the tiny config.
func twoCorpora(t *testing.T) (Config, []Dataset, Init) {
	t.Helper()
	mc := tinyConfig()
	const L = 12
	pv, video := synthRows(mc, 6, mc.Vision.Frames, L, 1)
	pi, image := synthRows(mc, 4, 1, L, 2)
	c, err := LoadConfig("tiny", []string{fmt.Sprintf("max_txt_l=%d", L), "log_every=0", "ckpt_every=0"})
	if err != nil {
		t.Fatal(err)
	}
	c.Vision, c.EmbedDim = mc.Vision, mc.EmbedDim
	sets := []Dataset{{Name: "video", Src: rowSource(video), Prov: pv}, {Name: "image", Src: rowSource(image), Prov: pi}}
	return c, sets, Init{Vision: vit.InitParams(mc.Vision, 1), Text: &bert.Loaded{Cfg: mc.Text, Flat: bert.InitParams(mc.Text, 2)}}
}

// TestRunResumeMidEpochEqualsStraightRun: over a video and an image corpus (3 + 2 batches an
// epoch), 7 steps straight and 3 steps, a checkpoint, and 4 more after Start --resume give the
// same corpus order (every epoch holds each corpus's batches exactly once), rows and losses.
func TestRunResumeMidEpochEqualsStraightRun(t *testing.T) {
	c, sets, in := twoCorpora(t)
	run := func(c Config, in Init, out string) []Metrics {
		r, err := Start(cpu.New(cpu.Options{Threads: 2}), c, sets, in, RunOptions{Out: out})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		return r.History()
	}
	c.MaxSteps = 7
	straight := run(c, in, t.TempDir())
	out := t.TempDir()
	c.MaxSteps = 3
	first := run(c, in, out)
	c.MaxSteps = 7
	rest := run(c, Init{Resume: out + "/checkpoints"}, out)
	got := append(first, rest...)
	if len(got) != 7 || len(straight) != 7 {
		t.Fatalf("%d and %d steps, want 7", len(got), len(straight))
	}
	var order []string
	for i := range straight {
		a, b := straight[i], got[i]
		if a.Dataset != b.Dataset || a.Loss != b.Loss || a.LR != b.LR || !slices.Equal(a.Indices, b.Indices) {
			t.Fatalf("step %d: straight %s %v %v, resumed %s %v %v", i+1, a.Dataset, a.Loss, a.Indices, b.Dataset, b.Loss, b.Indices)
		}
		order = append(order, a.Dataset)
	}
	v, im := 0, 0
	for _, d := range order[:5] {
		if d == "video" {
			v++
		} else {
			im++
		}
	}
	if v != 3 || im != 2 {
		t.Errorf("first epoch's order %v: %d video and %d image batches, want 3 and 2", order[:5], v, im)
	}
}

// TestStartRefusesMismatchedCaptions: a corpus without tokens, of another vocabulary, or of
// another caption length is refused with the fix.
func TestStartRefusesMismatchedCaptions(t *testing.T) {
	for _, tc := range []struct {
		edit func(*schemas.TextProvenance) *schemas.TextProvenance
		want string
	}{
		{func(*schemas.TextProvenance) *schemas.TextProvenance { return nil }, "umt prep --tokenizer"},
		{func(p *schemas.TextProvenance) *schemas.TextProvenance { p.VocabSize = 30522; return p }, "umt prep --tokenizer"},
		{func(p *schemas.TextProvenance) *schemas.TextProvenance { p.MaxLen = 16; return p }, "--set max_txt_l=16"},
	} {
		c, sets, in := twoCorpora(t)
		tp := *sets[1].Prov.Text
		sets[1].Prov.Text = tc.edit(&tp)
		be := cpu.New(cpu.Options{Threads: 1})
		r, err := Start(be, c, sets, in, RunOptions{Out: t.TempDir()})
		if err == nil {
			r.Close()
			t.Errorf("%+v was accepted", sets[1].Prov.Text)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v; want the fix %q", err, tc.want)
		}
		if s := be.Stats(); s.LiveBytes != 0 {
			t.Errorf("a refused start left %d bytes on the backend", s.LiveBytes)
		}
	}
}

// TestRanksResumeAndKeepUTAAndVTC: a run over 2 ranks records them in its checkpoint, resumes
// with them, and refuses a resume with another count naming it; its first step's UTA and VTC
// are the 1-rank run's bit for bit (the ranks split VTM's negatives and MLM's mean, and weight
// VTC's gradient, not its value).
func TestRanksResumeAndKeepUTAAndVTC(t *testing.T) {
	c, sets, in := twoCorpora(t)
	c.BatchSize, c.ImageBatchSize, c.MaxSteps = 4, 4, 1
	run := func(c Config, in Init, out string) ([]Metrics, error) {
		r, err := Start(cpu.New(cpu.Options{Threads: 2}), c, sets, in, RunOptions{Out: out})
		if err != nil {
			return nil, err
		}
		defer r.Close()
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		return r.History(), nil
	}
	one, err := run(c, in, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.Ranks = 2
	out := t.TempDir()
	two, err := run(c, in, out)
	if err != nil {
		t.Fatal(err)
	}
	a, b := one[0], two[0]
	if a.UTA != b.UTA || a.VTC != b.VTC || math.IsNaN(b.VTM) || math.IsNaN(b.MLM) {
		t.Fatalf("1 rank %+v, 2 ranks %+v: UTA and VTC may not change", a, b)
	}
	c.MaxSteps = 2
	if _, err := run(c, Init{Resume: out + "/checkpoints"}, out); err != nil {
		t.Fatalf("resume with the run's 2 ranks: %v", err)
	}
	c.Ranks = 1
	if _, err := run(c, Init{Resume: out + "/checkpoints"}, out); err == nil || !strings.Contains(err.Error(), "ranks 2") {
		t.Fatalf("resume of a 2-rank run with 1: %v; want an error naming ranks 2", err)
	}
}
