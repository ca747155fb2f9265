package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/ckpt"
	"github.com/umt-dev/umt/transforms/masks"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// writeTinyDataset commits a full-layout dataset of n random clips in the tiny preset's shapes
// (64 px, 4 frames, 2 teacher layers of 32 dims) through the real shard writer and index.
func writeTinyDataset(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	p := schemas.Provenance{SchemaVersion: schemas.ClipSchemaVersion, UMTVersion: "test", Teacher: "tiny", TeacherSHA256: "00",
		Resolution: 64, Normalisation: "imagenet", Sampler: "test", Layout: "full", Precision: schemas.PrecisionF16,
		MaskRatio: 0.8, Frames: 4, Size: 64, K: 2, HW: 16, D: 32}
	store, err := storage.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := shard.NewWriter(store, p, shard.WriterOptions{Key: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s := masks.NewStream(1, "cli", 0, 0)
	N := p.Frames * p.HW
	for i := 0; i < n; i++ {
		r := schemas.ClipRow{SourceURI: fmt.Sprintf("test://%d", i), SpanEndS: 1, FramePTS: make([]int64, p.Frames), FrameTimeS: make([]float64, p.Frames)}
		r.ClipID = schemas.ClipID(r.SourceURI, 0, 1, "test")
		r.Frames = make([]byte, p.FrameBytes())
		for j := range r.Frames {
			r.Frames[j] = byte(s.Uint64())
		}
		attn := make([]float32, N)
		for j := range attn {
			attn[j] = 0.01 + float32(s.Uint64()%100)/1000
			r.TeacherTokens = append(r.TeacherTokens, int32(j))
		}
		r.TeacherCLSAttn = schemas.F16Bits(nil, attn)
		for k := 0; k < p.K; k++ {
			r.TeacherLayers = append(r.TeacherLayers, int32(k))
			for j := 0; j < N; j++ {
				v := make([]float32, p.D)
				var ss float64
				for d := range v {
					v[d] = float32(s.Exp()) - 1
					ss += float64(v[d] * v[d])
				}
				for d := range v {
					v[d] /= float32(math.Sqrt(ss))
				}
				r.TeacherFeatures = schemas.F16Bits(r.TeacherFeatures, v)
			}
		}
		if err := w.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.CommitIndex(ctx, dir, shard.IndexOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readMetrics(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// TestTrainStage1CLI: 4 steps from real shards write metrics, a loss curve and a checkpoint;
// --resume continues to step 6 with the same data order as an uninterrupted 6-step run.
func TestTrainStage1CLI(t *testing.T) {
	data := writeTinyDataset(t, 6)
	out := t.TempDir()
	base := []string{"train", "stage1", "--data", data, "--config", "tiny", "--device", "cpu", "--log-every", "2"}
	code, log := capture(t, append(base, "--out", out, "--max-steps", "4")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	for _, want := range []string{"step 2/4", "loss", "lr", "grad-norm", "clips/s", "mfu"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "loss.png")); err != nil {
		t.Error(err)
	}
	ck, err := ckpt.Load(filepath.Join(out, "checkpoints"))
	if err != nil || ck.State.Step != 4 {
		t.Fatalf("checkpoint after 4 steps: %v", err)
	}
	code, log = capture(t, append(base, "--out", out, "--max-steps", "6", "--resume", filepath.Join(out, "checkpoints"))...)
	if code != 0 || !strings.Contains(log, "resumed from") {
		t.Fatalf("resume exit %d:\n%s", code, log)
	}
	resumed := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	full := t.TempDir()
	if code, log := capture(t, append(base, "--out", full, "--max-steps", "6")...); code != 0 {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	straight := readMetrics(t, filepath.Join(full, "metrics.jsonl"))
	if len(resumed) != 6 || len(straight) != 6 {
		t.Fatalf("%d and %d metric lines, want 6", len(resumed), len(straight))
	}
	for i := range straight {
		if fmt.Sprint(resumed[i]["indices"]) != fmt.Sprint(straight[i]["indices"]) || resumed[i]["loss"] != straight[i]["loss"] {
			t.Fatalf("step %d: resumed run %v/%v, straight run %v/%v", i+1, resumed[i]["loss"], resumed[i]["indices"], straight[i]["loss"], straight[i]["indices"])
		}
	}
	// Resuming again from the step-4 checkpoint replaces steps 5–6 in metrics.jsonl instead of
	// appending duplicates.
	code, log = capture(t, append(base, "--out", out, "--max-steps", "6", "--resume", filepath.Join(out, "checkpoints", "step-00000004"))...)
	if code != 0 {
		t.Fatalf("second resume exit %d:\n%s", code, log)
	}
	again := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	if len(again) != 6 {
		t.Fatalf("after a second resume metrics.jsonl has %d lines, want 6", len(again))
	}
	for i := range again {
		for _, k := range []string{"step", "loss", "lr", "grad_norm", "indices"} {
			if fmt.Sprint(again[i][k]) != fmt.Sprint(resumed[i][k]) {
				t.Fatalf("line %d %s: %v after the second resume, %v before", i+1, k, again[i][k], resumed[i][k])
			}
		}
	}
	if code, _ := capture(t, "train", "stage1", "--config", "tiny"); code != 2 {
		t.Errorf("missing --data: exit %d, want 2", code)
	}
	if code, _ := capture(t, "train", "stage1", "--data", data, "--config", "no-such-preset.json"); code != 2 {
		t.Errorf("bad --config: exit %d, want 2", code)
	}
	// --set: an unknown field is a usage error naming the fields; a valid one is applied (the
	// tiny dataset then misses the model by exactly that field, and the error names the fix).
	stderr := captureStderr(t, func() { code, _ = capture(t, "train", "stage1", "--data", data, "--set", "nokey=1") })
	if code != 2 || !strings.Contains(stderr, "batch_size") {
		t.Errorf("--set nokey=1: exit %d, %q; want 2 and the list of fields", code, stderr)
	}
	stderr = captureStderr(t, func() {
		code, _ = capture(t, "train", "stage1", "--data", data, "--device", "cpu", "--output", t.TempDir(), "--set", "model.return_layers=3", "--set", "model.depth=3")
	})
	if code != 1 || !strings.Contains(stderr, "--set model.return_layers=2") {
		t.Errorf("--set model.return_layers=3 on a 2-layer dataset: exit %d, %q; want 1 and the override that fixes it", code, stderr)
	}
}
