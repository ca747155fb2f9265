package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/stage2"
	"github.com/umt-dev/umt/transforms/shard"
)

// TestEvalRetrievalEqualsProtocol: on a captioned dataset written by umt prep and a 1-step
// stage-2 checkpoint, `umt eval retrieval` reports all of itm_eval's metrics of both score
// kinds in [0, 100], equal to the multimodal functions run on the whole dataset in one batch
// (so chunked encoding changes nothing); checkpoints whose text vocabulary or positions do not
// fit the dataset are refused with the fix.
func TestEvalRetrievalEqualsProtocol(t *testing.T) {
	ref := testenv.RefData(t)
	data := prepCaptioned(t, true)
	run := t.TempDir()
	if code, log := capture(t, "train", "stage2", "--data", data, "--init", filepath.Join(ref, "student_tiny_weights.safetensors"),
		"--text", filepath.Join(ref, "stage2_tiny_weights.safetensors"), "--config", "tiny", "--device", "cpu", "--threads", "2",
		"--output", run, "--steps", "1"); code != 0 {
		t.Fatalf("train exit %d:\n%s", code, log)
	}
	ckptRoot := filepath.Join(run, "checkpoints")
	outFile := filepath.Join(t.TempDir(), "eval.json")
	code, log := capture(t, "eval", "retrieval", "--json", "--data", data, "--weights", ckptRoot, "--k-test", "3", "--device", "cpu", "--threads", "2", "--output", outFile)
	if code != 0 {
		t.Fatalf("eval exit %d:\n%s", code, log)
	}
	var res retrievalResult
	if err := json.Unmarshal([]byte(log), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, log)
	}
	if b, err := os.ReadFile(outFile); err != nil || strings.TrimSpace(string(b)) != strings.TrimSpace(log) {
		t.Errorf("--output holds %q (%v), want the printed JSON", b, err)
	}
	if len(res.Metrics) != 2*len(multimodal.MetricNames) || res.Videos == 0 || res.Texts < res.Videos || res.KTest != min(3, res.Videos) {
		t.Errorf("result %+v: want %d metrics, videos, at least one caption each, k_test min(3, videos)", res, 2*len(multimodal.MetricNames))
	}
	for _, k := range multimodal.MetricNames {
		for _, key := range []string{k, k + "_emb"} {
			if v, ok := res.Metrics[key]; !ok || v < 0 || v > 100 {
				t.Errorf("metric %s = %v (present %v), want in [0, 100]", key, v, ok)
			}
		}
	}
	// The ITC half from a stage-2 export of the same dataset, without the model.
	emb := t.TempDir()
	if code, log := capture(t, "export", "--input", data, "--output", emb, "--model", "stage2", "--weights", ckptRoot, "--threads", "2"); code != 0 {
		t.Fatalf("export exit %d:\n%s", code, log)
	}
	code, log = capture(t, "eval", "retrieval", "--json", "--embeddings", emb)
	var fromExport retrievalResult
	if code != 0 || json.Unmarshal([]byte(log), &fromExport) != nil {
		t.Fatalf("eval --embeddings exit %d:\n%s", code, log)
	}
	if fromExport.Videos != res.Videos || fromExport.Texts != res.Texts || len(fromExport.Metrics) != len(multimodal.MetricNames) {
		t.Errorf("eval --embeddings: %+v, want the _emb metrics of %d videos and %d captions", fromExport, res.Videos, res.Texts)
	}
	for _, k := range multimodal.MetricNames {
		if fromExport.Metrics[k+"_emb"] != res.Metrics[k+"_emb"] {
			t.Errorf("%s_emb from the export %v, from the model %v", k, fromExport.Metrics[k+"_emb"], res.Metrics[k+"_emb"])
		}
	}
	if code, table := capture(t, "eval", "retrieval", "--embeddings", emb); code != 0 || !strings.Contains(table, "n/a") || !strings.Contains(table, "txt_r1") {
		t.Errorf("--embeddings table: exit %d, want ITM columns n/a:\n%s", code, table)
	}
	if code, _ := capture(t, "eval", "retrieval", "--embeddings", emb, "--data", data); code != 2 {
		t.Errorf("--embeddings with --data: exit %d, want 2 (usage)", code)
	}
	want := directRetrieval(t, data, filepath.Join(ckptRoot, "step-00000001"), res.KTest)
	for key, w := range want {
		if res.Metrics[key] != w {
			t.Errorf("%s = %v, the multimodal functions on one batch give %v", key, res.Metrics[key], w)
		}
	}
	if code, table := capture(t, "eval", "retrieval", "--data", data, "--weights", ckptRoot, "--device", "cpu"); code != 0 || !strings.Contains(table, "txt_r1") || !strings.Contains(table, "r_mean") {
		t.Errorf("table exit %d:\n%s", code, table)
	}

	for _, c := range []struct {
		name   string
		change func(*stage2.State)
		fix    string
	}{
		{"vocabulary", func(s *stage2.State) { s.Model.Text.Vocab++ }, "umt prep --tokenizer"},
		{"positions", func(s *stage2.State) { s.Model.Text.MaxPosition = 16 }, "umt prep --max-text-len 16"},
	} {
		dir := filepath.Join(t.TempDir(), "step")
		if err := os.CopyFS(dir, os.DirFS(filepath.Join(ckptRoot, "step-00000001"))); err != nil {
			t.Fatal(err)
		}
		var st stage2.State
		if js, err := os.ReadFile(filepath.Join(dir, "state.json")); err != nil || json.Unmarshal(js, &st) != nil {
			t.Fatalf("reading %s/state.json: %v", dir, err)
		}
		c.change(&st)
		b, _ := json.Marshal(st)
		if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		var code int
		log := captureStderr(t, func() { code, _ = capture(t, "eval", "retrieval", "--data", data, "--weights", dir, "--device", "cpu") })
		if code == 0 || !strings.Contains(log, c.fix) {
			t.Errorf("%s mismatch: exit %d, want the fix %q:\n%s", c.name, code, c.fix, log)
		}
	}
}

// directRetrieval runs the protocol with models/multimodal's functions on every row at once.
func directRetrieval(t *testing.T, data, dir string, k int) map[string]float64 {
	t.Helper()
	ctx := context.Background()
	d, err := shard.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dev, err := kernels.Open("cpu", kernels.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	be, err := dev.Trainer()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := stage2.Resume(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Model.Close()
	defer tr.Close()
	m, p := tr.Model, d.Provenance()
	L, N := p.Text.MaxLen, p.Frames*m.Cfg.Vision.HW()
	all := make([]int32, N)
	for i := range all {
		all[i] = int32(i)
	}
	b := vit.Batch{Frames: p.Frames, KeepTemporal: true}
	var ids, mask []int32
	var gtV, gtT [][]int
	if err := d.Scan(ctx, func(i int, r schemas.ClipRow) error {
		b.B++
		b.Patches = append(b.Patches, vit.PatchesFromFrames(m.Cfg.Vision, r.Frames, all)...)
		b.Tokens = append(b.Tokens, all...)
		var caps []int
		for c := 0; c < len(r.CaptionIDs)/L; c++ {
			caps = append(caps, len(gtT))
			gtT = append(gtT, []int{i})
		}
		gtV = append(gtV, caps)
		ids = append(ids, r.CaptionIDs...)
		for _, v := range r.CaptionMask {
			mask = append(mask, int32(v))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	Nv, Nt, E := b.B, len(gtT), m.Cfg.EmbedDim
	ve, err := m.EmbedVision(b)
	if err != nil {
		t.Fatal(err)
	}
	te, err := m.EmbedText(ids, mask, Nt, L)
	if err != nil {
		t.Fatal(err)
	}
	i2t, err := multimodal.ITCScores(ve.Proj, Nv, len(ve.Proj)/Nv/E, te.Proj, Nt, E)
	if err != nil {
		t.Fatal(err)
	}
	t2i := make([]float64, Nt*Nv)
	for v := 0; v < Nv; v++ {
		for x := 0; x < Nt; x++ {
			t2i[x*Nv+v] = i2t[v*Nt+x]
		}
	}
	itmI2T, itmT2I, err := m.ITMScores(ve.Tokens, N, te.Tokens, mask, L, i2t, Nv, Nt, k)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, kind := range []struct {
		suffix   string
		i2t, t2i []float64
	}{{"", itmI2T, itmT2I}, {"_emb", i2t, t2i}} {
		rt, err := multimodal.Ranks(kind.i2t, Nv, Nt, gtV)
		if err != nil {
			t.Fatal(err)
		}
		ri, err := multimodal.Ranks(kind.t2i, Nt, Nv, gtT)
		if err != nil {
			t.Fatal(err)
		}
		for key, v := range multimodal.Metrics(rt, ri) {
			out[key+kind.suffix] = v
		}
	}
	return out
}

// TestEvalKTestDefaultIsTheOfficial: --k-test defaults to evaluation.k_test of the official
// stage-2 configs (multi_modality/exp/pretraining/*.py: 128), as the presets' table test notes.
func TestEvalKTestDefaultIsTheOfficial(t *testing.T) {
	fs := flag.NewFlagSet("eval retrieval", flag.ContinueOnError)
	commands["eval retrieval"].Flags(fs)
	if f := fs.Lookup("k-test"); f == nil || f.DefValue != "128" {
		t.Errorf("--k-test default %v, want 128", f)
	}
}
