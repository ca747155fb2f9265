package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/pipelines/export"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/ckpt"
	"github.com/umt-dev/umt/transforms/index"
	"github.com/umt-dev/umt/transforms/shard"
)

// TestExportCommand: umt export over a frames dataset writes one embedding per clip, reports
// ok + failed = rows as JSON, and a rerun reuses every shard.
func TestExportCommand(t *testing.T) {
	dir, rows, _ := makeLayoutDataset(t, 3, schemas.LayoutFrames)
	out := t.TempDir()
	args := []string{"export", "--input", dir, "--output", out, "--teacher",
		filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"), "--heads", "4",
		"--teacher-resolution", "64", "--threads", "1", "--group-clips", "2", "--json"}
	for run := 0; run < 2; run++ {
		code, stdout := capture(t, args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, stdout)
		}
		var rep export.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("run %d: %v in %q", run, err, stdout)
		}
		if !rep.Accounted || rep.OK != int64(len(rows)) || rep.Shards != 2 {
			t.Errorf("run %d: report %+v, want %d rows in 2 shards", run, rep, len(rows))
		}
		if run == 1 && (rep.Computed != 0 || rep.Committed != int64(len(rows))) {
			t.Errorf("rerun computed %d and reused %d clips; want 0 and %d", rep.Computed, rep.Committed, len(rows))
		}
	}
	if code, _ := capture(t, "export", "--output", out); code != 2 {
		t.Errorf("export without --input: exit %d, want 2 (usage)", code)
	}
}

// TestIndexBuildAndSearch: umt index build over an export writes the FAISS index and its recall
// report; umt index search finds a clip itself first, by id.
func TestIndexBuildAndSearch(t *testing.T) {
	dir, rows, _ := makeLayoutDataset(t, 4, schemas.LayoutFrames)
	emb, ix := t.TempDir(), t.TempDir()
	if code, out := capture(t, "export", "--input", dir, "--output", emb, "--teacher",
		filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"), "--heads", "4",
		"--teacher-resolution", "64", "--threads", "1"); code != 0 {
		t.Fatalf("export: exit %d: %s", code, out)
	}
	code, out := capture(t, "index", "build", "--input", emb, "--output", ix, "--factory", "Flat")
	var rep index.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Rows != len(rows) || rep.Recall != 1 {
		t.Fatalf("index build: exit %d, %s; want %d rows and exact recall 1", code, out, len(rows))
	}
	code, out = capture(t, "index", "search", "--index", ix, "--input", emb, "--id", rows[2].ClipID, "--k", "3")
	var first index.Hit
	if code != 0 || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first) != nil || first.ID != rows[2].ClipID {
		t.Errorf("index search: exit %d, %q; want %s first", code, out, rows[2].ClipID)
	}
}

// TestExportManifestCommand: umt export over a manifest of corpus videos (one missing) decodes
// them as prep does, reports the missing one as a failure of its class with ok + failed =
// rows, and writes the --npy view beside every shard.
func TestExportManifestCommand(t *testing.T) {
	root, all := testenv.Corpus(t)
	var lines []string
	for _, e := range all {
		if e.Expect == "ok" && !e.HasSpan() && e.SizeBytes < 300_000 && len(lines) < 2 {
			lines = append(lines, `{"uri": "`+e.Path+`", "caption": "c"}`)
		}
	}
	lines = append(lines, `{"uri": "nowhere.mp4"}`)
	m := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(m, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout := capture(t, "export", "--input", m, "--root", root, "--output", out, "--teacher",
		filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"), "--heads", "4",
		"--teacher-resolution", "64", "--threads", "1", "--frames", "2", "--size", "64", "--npy", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	var rep export.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %q", err, stdout)
	}
	if !rep.Accounted || rep.Rows != 3 || rep.OK != 2 || rep.FailedByClass[schemas.ClassMissing] != 1 || rep.Source != export.SourceManifest {
		t.Errorf("report %+v: want 3 manifest rows, 2 ok, 1 missing", rep)
	}
	if npy, _ := filepath.Glob(filepath.Join(out, "emb", "*.npy")); len(npy) != rep.Shards {
		t.Errorf("%d .npy files for %d shards", len(npy), rep.Shards)
	}
	var code2 int
	msg := captureStderr(t, func() {
		code2, _ = capture(t, "export", "--input", filepath.Join(t.TempDir(), "ds"), "--output", t.TempDir(), "--teacher",
			filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"), "--heads", "4", "--teacher-resolution", "64")
	})
	if code := code2; code == 0 || !strings.Contains(msg, "neither a committed umt dataset") {
		t.Errorf("a non-manifest --input that is no dataset: exit %d, %q; want an error naming both kinds", code, msg)
	}
}

// TestExportStudentOfTrainedCheckpoint: umt export --model student over the checkpoint that
// umt train stage1 wrote gives, for every clip, the L2-normalised mean of the final-norm
// tokens of the trainer's model (loaded by the trainer's own ckpt.Load) on the clip's frames,
// bit for bit, and --dtype float16 the same values rounded.
func TestExportStudentOfTrainedCheckpoint(t *testing.T) {
	data := writeTinyDataset(t, 4)
	run := t.TempDir()
	if code, log := capture(t, "train", "stage1", "--data", data, "--config", "tiny", "--device", "cpu", "--out", run, "--max-steps", "1"); code != 0 {
		t.Fatalf("train: exit %d:\n%s", code, log)
	}
	weights := filepath.Join(run, "checkpoints")
	emb := t.TempDir()
	if code, out := capture(t, "export", "--input", data, "--output", emb, "--model", "student", "--weights", weights, "--threads", "1", "--device", "cpu"); code != 0 {
		t.Fatalf("export: exit %d: %s", code, out)
	}
	_, got, err := export.ReadEmbeddings(context.Background(), emb)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := ckpt.Load(weights)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := kernels.Open("cpu", kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	be, err := dev.Trainer()
	if err != nil {
		t.Fatal(err)
	}
	c := ck.State.Model
	m, err := vit.New(be, c, ck.Weights)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := shard.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(got) != d.Len() {
		t.Fatalf("%d exported rows of %d", len(got), d.Len())
	}
	for i := range got {
		r, err := d.Row(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		var b vit.Batch
		b.AppendUnmasked(c, r.Frames)
		if err := m.Forward(b, false, 0); err != nil {
			t.Fatal(err)
		}
		tok, err := m.FinalTokens()
		if err != nil {
			t.Fatal(err)
		}
		if want := export.MeanL2(tok, c.Slices()*c.HW(), c.Dim); got[i].ClipID != r.ClipID || !slices.Equal(got[i].Embedding, want) {
			t.Errorf("row %d (%s): exported %v, the trainer's model gives %v", i, got[i].ClipID, got[i].Embedding, want)
		}
	}
	half := t.TempDir()
	if code, out := capture(t, "export", "--input", data, "--output", half, "--model", "student", "--weights", weights, "--threads", "1", "--dtype", "float16"); code != 0 {
		t.Fatalf("export --dtype float16: exit %d: %s", code, out)
	}
	_, h, err := export.ReadEmbeddings(context.Background(), half)
	if err != nil {
		t.Fatal(err)
	}
	for i := range h {
		if want := schemas.Float32s(nil, schemas.F16Bits(nil, got[i].FrameEmbeddings)); !slices.Equal(h[i].FrameEmbeddings, want) {
			t.Errorf("row %d: float16 frame embeddings are not the float32 ones rounded:\n%v\n%v\n%v", i, h[i].FrameEmbeddings, want, got[i].FrameEmbeddings)
		}
	}
	if code, _ := capture(t, "export", "--input", data, "--output", t.TempDir(), "--model", "student"); code != 2 {
		t.Errorf("--model student without --weights: exit %d, want 2 (usage)", code)
	}
}
