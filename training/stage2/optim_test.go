package stage2

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/weights/weightstest"
	"github.com/umt-dev/umt/training/optim"
)

// adamwRef is stage2_adamw_step.json with the optimiser options of the manifest.
type adamwRef struct {
	BaseLR      float64   `json:"base_lr"`
	Warmup      int       `json:"num_warmup_steps"`
	Total       int       `json:"num_training_steps"`
	MinMulti    float64   `json:"min_lr_multi"`
	Cycles      float64   `json:"num_cycles"`
	Multipliers []float64 `json:"lr_multipliers_steps_0_to_N+1"`
	LRUsed      float64   `json:"lr_used_for_step1"`
	Groups      []struct {
		WeightDecay float64   `json:"weight_decay"`
		Betas       []float64 `json:"betas"`
		Eps         float64   `json:"eps"`
		Params      []string  `json:"params"`
	} `json:"param_groups"`
}

// TestAdamWStepMatchesReference: from the reference weights and the video batch's stored
// gradients, one step of the stage-2 optimiser at the schedule's first learning rate gives
// every step1.* parameter within 1e-6 absolute; the schedule's multipliers equal the official
// LambdaLR values exactly (steps 0 … total+1, the first at min_lr_multi, rising past the end);
// every parameter sits in the official weight-decay group.
func TestAdamWStepMatchesReference(t *testing.T) {
	dir := testenv.RefData(t)
	var ref adamwRef
	data, err := os.ReadFile(filepath.Join(dir, "stage2_adamw_step.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	sched := optim.WarmupCosine{Warmup: ref.Warmup, Total: ref.Total, MinMulti: ref.MinMulti, Cycles: ref.Cycles}
	if len(ref.Multipliers) == 0 {
		t.Fatal("stage2_adamw_step.json has no multipliers")
	}
	for s, want := range ref.Multipliers {
		if got := sched.Multiplier(s); got != want {
			t.Errorf("multiplier of step %d: %v, official %v", s, got, want)
		}
	}
	lr := ref.BaseLR * sched.Multiplier(0)
	if lr != ref.LRUsed {
		t.Errorf("first learning rate %v, official %v", lr, ref.LRUsed)
	}

	w, err := weightstest.Read(filepath.Join(dir, "stage2_tiny_weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sd := weightstest.Map(w)
	s2, v := testenv.RefStage2(t), testenv.RefStage2Vision(t)
	video := v.Media["video"]
	cfg, err := multimodal.InferConfig(sd, multimodal.Options{VisionHeads: v.Student.Heads, TextHeads: s2.BERT.Heads,
		ImgSize: video.Img, Frames: v.Student.Frames, ReturnInterval: v.Student.ReturnInterval})
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	flat, err := multimodal.FromState(cfg, sd)
	if err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: 2})
	m, err := multimodal.New(be, cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		m.Close()
		if s := be.Stats(); s.LiveBytes != 0 {
			t.Errorf("backend still holds %d bytes", s.LiveBytes)
		}
	}()

	type param struct {
		name   string
		decay  bool
		off, n int
		w, g   kernels.Buf
	}
	var ps []param
	for _, p := range m.Vision.Params() {
		ps = append(ps, param{multimodal.VisionPrefix + p.Name, p.Decay, p.Off, p.Len, m.Vision.Weights(), m.Vision.Grads()})
	}
	for _, p := range m.Text.Params() {
		ps = append(ps, param{bert.UMTPrefix + p.Name, p.Decay, p.Off, p.Len, m.Text.Weights(), m.Text.Grads()})
	}
	for _, p := range m.HeadParamList() {
		ps = append(ps, param{p.Name, p.Decay, p.Off, p.Len, m.HeadWeights(), m.HeadGrads()})
	}
	group := map[string]float64{}
	for _, g := range ref.Groups {
		if len(g.Betas) != 2 || g.Betas[0] != AdamW.Beta1 || g.Betas[1] != AdamW.Beta2 || g.Eps != AdamW.Eps {
			t.Errorf("reference group betas %v eps %v; the stage-2 optimiser uses %v, %v, %v", g.Betas, g.Eps, AdamW.Beta1, AdamW.Beta2, AdamW.Eps)
		}
		for _, n := range g.Params {
			group[n] = g.WeightDecay
		}
	}
	h := AdamW
	io, err := weightstest.Read(filepath.Join(dir, "stage2_tiny_video_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		wd, ok := group[p.name]
		switch {
		case !ok:
			t.Errorf("%s is in no official parameter group", p.name)
		case wd != 0 && wd != h.WeightDecay:
			t.Errorf("%s: official weight decay %v, the stage-2 optimiser's %v", p.name, wd, h.WeightDecay)
		case (wd != 0) != p.decay:
			t.Errorf("%s: decay %v here, official weight decay %v", p.name, p.decay, wd)
		}
		g, ok := io["grad."+p.name]
		if !ok || len(g.F32) != p.n {
			t.Fatalf("the video batch has no grad.%s of %d values", p.name, p.n)
		}
		be.Upload(p.g.View(p.off, p.n), g.F32)
	}
	opt, err := NewOptimizer(m, h)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	if err := opt.Update(lr); err != nil {
		t.Fatal(err)
	}
	step, err := weightstest.Read(filepath.Join(dir, "stage2_adamw_step.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	worst, worstName := 0.0, ""
	for _, p := range ps {
		want, ok := step["step1."+p.name]
		if !ok || len(want.F32) != p.n {
			t.Errorf("the reference has no step1.%s of %d values", p.name, p.n)
			continue
		}
		got := be.Data(p.w.View(p.off, p.n))
		for i := range got {
			if d := math.Abs(float64(got[i] - want.F32[i])); d > worst {
				worst, worstName = d, p.name
			}
		}
	}
	if worst > 1e-6 {
		t.Errorf("after one step max|d| = %.3g (%s) > 1e-6", worst, worstName)
	}
	t.Logf("%d parameters after one step at lr %v: max|d| = %.3g (%s)", len(ps), lr, worst, worstName)
	var notOurs []string
	for n := range group {
		found := false
		for _, p := range ps {
			found = found || p.name == n
		}
		if !found && !strings.HasPrefix(n, "clip_teacher.") {
			notOurs = append(notOurs, n)
		}
	}
	if len(notOurs) > 0 {
		t.Errorf("official parameters this model lacks: %v", notOurs)
	}
}
