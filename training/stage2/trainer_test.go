package stage2

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/optim"
)

func tinyConfig() multimodal.Config {
	v := vit.Tiny
	v.Stage2 = true
	t := bert.Config{Hidden: 32, Layers: 4, Heads: 4, Intermediate: 64, Vocab: 300, MaxPosition: 64, TypeVocab: 2, Eps: 1e-12, FusionLayer: 2, EncoderWidth: v.Dim}
	return multimodal.Config{Vision: v, Text: t, EmbedDim: 16, TempInit: 0.07, MLMProb: 0.5}
}

// synthRows are B random clips of T frames as a full-layout dataset holds them, each with two
// tokenized captions of length L, and their provenance.
func synthRows(c multimodal.Config, B, T, L int, seed uint64) (schemas.Provenance, []schemas.ClipRow) {
	v := c.Vision
	r := rand.New(rand.NewPCG(seed, 7))
	hw := v.HW()
	p := schemas.Provenance{Layout: "full", Frames: T, Size: v.ImgSize, K: v.ReturnLayers, HW: hw, D: v.ClipDim, MaskRatio: 0.8,
		Text: &schemas.TextProvenance{Tokenizer: "synthetic", VocabSize: c.Text.Vocab, MaxLen: L}}
	rows := make([]schemas.ClipRow, B)
	for i := range rows {
		row := &rows[i]
		row.ClipID = fmt.Sprintf("clip-%d-%d", seed, i)
		row.Frames = make([]byte, T*v.ImgSize*v.ImgSize*3)
		for j := range row.Frames {
			row.Frames[j] = byte(r.IntN(256))
		}
		n := T * hw
		for tok := 0; tok < n; tok++ {
			row.TeacherTokens = append(row.TeacherTokens, int32(tok))
		}
		feats := make([]float32, p.K*n*p.D)
		for j := range feats {
			feats[j] = float32(r.NormFloat64())
		}
		row.TeacherFeatures = schemas.F16Bits(nil, feats)
		attn := make([]float32, T*hw)
		for j := range attn {
			attn[j] = float32(0.01 + r.Float64())
		}
		row.TeacherCLSAttn = schemas.F16Bits(nil, attn)
		for cap := 0; cap < 2; cap++ {
			words := 2 + r.IntN(L-2)
			for l := 0; l < L; l++ {
				switch {
				case l == 0:
					row.CaptionIDs, row.CaptionMask = append(row.CaptionIDs, 101), append(row.CaptionMask, 1)
				case l <= words:
					row.CaptionIDs, row.CaptionMask = append(row.CaptionIDs, int32(104+r.IntN(c.Text.Vocab-104))), append(row.CaptionMask, 1)
				default:
					row.CaptionIDs, row.CaptionMask = append(row.CaptionIDs, 0), append(row.CaptionMask, 0)
				}
			}
		}
	}
	return p, rows
}

func newTrainer(t testing.TB, c multimodal.Config, lr float64) (*Trainer, *cpu.Backend) {
	t.Helper()
	be := cpu.New(cpu.Options{Threads: 2})
	m, err := multimodal.New(be, c, multimodal.Flat{Vision: vit.InitParams(c.Vision, 1), Text: bert.InitParams(c.Text, 2), Heads: multimodal.InitHeads(c, 3)})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := optim.NewWarmupCosine(10, 1, 4, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, sched, lr, 9)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Close()
		m.Close()
		if s := be.Stats(); s.LiveBytes != 0 {
			t.Errorf("backend still holds %d bytes after the trainer and model closed", s.LiveBytes)
		}
	})
	return tr, be
}

// TestTrainStepsAreDeterministic: two trainers with the same seed over the same video and
// image batches give bit-identical losses and parameters; the learning rate follows the
// schedule from base_lr·min_lr_multi.
func TestTrainStepsAreDeterministic(t *testing.T) {
	c := tinyConfig()
	pv, video := synthRows(c, 4, c.Vision.Frames, 12, 1)
	pi, image := synthRows(c, 4, 1, 12, 2)
	var batches []multimodal.Batch
	for _, x := range []struct {
		p    schemas.Provenance
		rows []schemas.ClipRow
	}{{pv, video}, {pi, image}} {
		if err := CheckDataset(c, Recipe, x.p); err != nil {
			t.Fatal(err)
		}
		b, err := BuildBatch(Recipe, c, x.p, x.rows, []int{3, 1, 3, 0}, 0)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	run := func() ([]float64, []float32) {
		tr, _ := newTrainer(t, c, 1e-3)
		var out []float64
		for s := 0; s < 4; s++ {
			l, lr, err := tr.TrainStep(batches[s%2])
			if err != nil {
				t.Fatal(err)
			}
			if want := 1e-3 * tr.Sched.Multiplier(s); lr != want {
				t.Errorf("step %d ran at lr %v, the schedule says %v", s, lr, want)
			}
			out = append(out, l.UTA, l.VTC, l.VTM, l.MLM, l.Total)
		}
		w, err := tr.Model.Vision.Download()
		if err != nil {
			t.Fatal(err)
		}
		return out, w
	}
	l1, w1 := run()
	l2, w2 := run()
	if !slices.Equal(l1, l2) || !slices.Equal(w1, w2) {
		t.Errorf("two runs with one seed differ: losses %v vs %v", l1, l2)
	}
	for _, x := range l1 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("non-finite loss in %v", l1)
		}
	}
}

// TestTrainingLowersTheLoss: repeated steps on one batch lower the total and the VTC loss.
func TestTrainingLowersTheLoss(t *testing.T) {
	c := tinyConfig()
	p, rows := synthRows(c, 4, c.Vision.Frames, 12, 5)
	b, err := BuildBatch(Recipe, c, p, rows, []int{0, 1, 2, 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := newTrainer(t, c, 2e-3)
	tr.Sched = optim.WarmupCosine{Warmup: 0, Total: 1000, MinMulti: 0.01, Cycles: 0.5}
	var first, last multimodal.Losses
	for s := 0; s < 25; s++ {
		l, _, err := tr.TrainStep(b)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = l
		}
		last = l
	}
	t.Logf("first %+v\nlast  %+v", first, last)
	if !(last.Total < 0.8*first.Total) || !(last.VTC < first.VTC) {
		t.Errorf("25 steps: total %.4g → %.4g, vtc %.4g → %.4g; want the total down by 20%% and vtc down", first.Total, last.Total, first.VTC, last.VTC)
	}
}

// TestMetaOrderRepeatsEachLoaderByItsBatches: an epoch's order holds loader i exactly
// batches[i] times, is the same for the same (seed, epoch) and changes with the epoch.
func TestMetaOrderRepeatsEachLoaderByItsBatches(t *testing.T) {
	counts := []int{7, 3, 0, 5}
	a := MetaOrder(counts, 42, 0)
	got := make([]int, len(counts))
	for _, i := range a {
		got[i]++
	}
	if !slices.Equal(got, counts) {
		t.Errorf("order %v holds the loaders %v times, want %v", a, got, counts)
	}
	if !slices.Equal(a, MetaOrder(counts, 42, 0)) {
		t.Error("the same seed and epoch gave another order")
	}
	if slices.Equal(a, MetaOrder(counts, 42, 1)) {
		t.Error("epochs 0 and 1 share one order")
	}
}

// TestCheckDatasetNamesTheFix: a dataset without caption tokens or with another vocabulary is
// refused with the reason.
func TestCheckDatasetNamesTheFix(t *testing.T) {
	c := tinyConfig()
	p, _ := synthRows(c, 1, c.Vision.Frames, 8, 1)
	p.Text = nil
	if err := CheckDataset(c, Recipe, p); err == nil {
		t.Error("a dataset without caption tokens was accepted")
	}
	p.Text = &schemas.TextProvenance{VocabSize: c.Text.Vocab + 1, MaxLen: 8}
	if err := CheckDataset(c, Recipe, p); err == nil {
		t.Error("a dataset of another vocabulary was accepted")
	}
	// A shape mismatch names the --set overrides, and applying them makes the dataset fit.
	p.Text.VocabSize = c.Text.Vocab
	p.K, p.Frames = 3, 8
	err := CheckDataset(c, Recipe, p)
	if err == nil || !strings.Contains(err.Error(), "--set vision.frames=8") {
		t.Fatalf("8-frame clips for a 4-frame encoder: %v; want --set vision.frames=8", err)
	}
	c.Vision.Frames = 8
	err = CheckDataset(c, Recipe, p)
	if err == nil || !strings.Contains(err.Error(), "--set vision.return_layers=3 --set vision.clip_dim=32") {
		t.Fatalf("3 stored layers for 2 aligned: %v; want --set vision.return_layers=3", err)
	}
	c.Vision.ReturnLayers = 3
	if err := CheckDataset(c, Recipe, p); err != nil {
		t.Errorf("after the named overrides: %v", err)
	}
}

// TestCheckDatasetRefusesTooFewStoredTokens: a visible:M dataset guarantees HW − int(HW·r)
// stored tokens per frame at its prep ratio r; one whose media trains at a lower ratio (an
// image corpus prepared at the video ratio) is refused before training with the umt prep
// options that fix it, and the dataset those options describe is accepted.
func TestCheckDatasetRefusesTooFewStoredTokens(t *testing.T) {
	c := tinyConfig() // 16 tokens per frame: 0.8 keeps 4, 0.5 keeps 8, 0.9 keeps 2
	for _, tc := range []struct {
		layout string
		frames int
		ratio  float64
		want   string // "" = accepted
	}{
		{"visible:1", 1, 0.8, "umt prep --frames 1 --mask-ratio 0.5 (or --layout full), or train at its ratio with --set image_mask_ratio=0.8"},
		{"visible:4", 1, 0.8, "umt prep --frames 1 --mask-ratio 0.5"}, // a union of 4 masks still guarantees only 4
		{"visible:1", 1, 0.5, ""},
		{"visible:1", 1, 0.3, ""},
		{"full", 1, 0.8, ""},
		{"visible:1", 4, 0.8, ""},
		{"visible:2", 4, 0.5, ""},
		{"visible:1", 4, 0.9, "umt prep --frames 4 --mask-ratio 0.8 (or --layout full), or train at its ratio with --set video_mask_ratio=0.9"},
	} {
		p, _ := synthRows(c, 1, tc.frames, 8, 1)
		p.Layout, p.MaskRatio = tc.layout, tc.ratio
		err := CheckDataset(c, Recipe, p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s, %d frames, prep ratio %v: %v; want it accepted", tc.layout, tc.frames, tc.ratio, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s, %d frames, prep ratio %v: %v; want the fix %q", tc.layout, tc.frames, tc.ratio, err, tc.want)
		}
	}
	// Either fix the message names makes the dataset fit.
	p, _ := synthRows(c, 1, 1, 8, 1)
	p.Layout, p.MaskRatio = "visible:1", 0.8
	d := Recipe
	d.ImageMaskRatio = 0.8
	if err := CheckDataset(c, d, p); err != nil {
		t.Errorf("trained at the prep ratio: %v", err)
	}
}

// TestStartRefusesImageCorpusPreparedAtTheVideoRatio: Start checks the stored tokens of every
// corpus before the first step, so a run never trains on the video corpus and then fails at the
// image corpus's first batch; nothing is written and the backend is left empty.
func TestStartRefusesImageCorpusPreparedAtTheVideoRatio(t *testing.T) {
	c, sets, in := twoCorpora(t)
	img := &sets[1]
	img.Prov.Layout, img.Prov.Masks = "visible:1", 1 // prep at its default 0.8: 4 of 16 tokens per frame
	rows := slices.Clone(img.Src.(rowSource))
	for i := range rows {
		rows[i].TeacherTokens = rows[i].TeacherTokens[:img.Prov.VisiblePerFrame()]
	}
	img.Src = rowSource(rows)
	be := cpu.New(cpu.Options{Threads: 1})
	out := t.TempDir()
	r, err := Start(be, c, sets, in, RunOptions{Out: out})
	if err == nil {
		defer r.Close()
		err = r.Run(t.Context())
		t.Fatalf("Start accepted the image corpus; the run then said %v", err)
	}
	if !strings.Contains(err.Error(), "image") || !strings.Contains(err.Error(), "umt prep --frames 1 --mask-ratio 0.5") {
		t.Errorf("%v; want the image corpus named with umt prep --frames 1 --mask-ratio 0.5", err)
	}
	if s := be.Stats(); s.LiveBytes != 0 {
		t.Errorf("a refused start left %d bytes on the backend", s.LiveBytes)
	}
}
