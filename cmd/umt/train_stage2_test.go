package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/pipelines/prep"
)

// prepCaptioned runs `umt prep` on testdata/sample with the tiny teacher at the tiny stage-2
// model's shapes (64 px, 4 frames, 2 layers of 32 dims, full layout), tokenizing the captions
// with the bert-base-uncased vocabulary when tokenize is set.
func prepCaptioned(t *testing.T, tokenize bool) string {
	t.Helper()
	args := []string{"--frames", "4", "--layout", "full"}
	if tokenize {
		args = append(args, "--tokenizer", filepath.Join(testenv.RefData(t), "bert-base-uncased"), "--max-text-len", "32")
	}
	return prepTiny(t, testenv.Testdata(t, "sample", "manifest.jsonl"), args...)
}

// prepTiny runs `umt prep` on a manifest with the tiny teacher at the tiny stage-2 model's
// shapes (64 px, 2 layers of 32 dims) and the extra flags, and returns the dataset.
func prepTiny(t *testing.T, manifest string, extra ...string) string {
	t.Helper()
	saved := prepFlags // prep's flags are global; other runs leave values on them
	t.Cleanup(func() { prepFlags = saved })
	prepFlags.cfg = prep.Defaults()
	ref := testenv.RefData(t)
	out := filepath.Join(t.TempDir(), "ds")
	args := append([]string{"prep", "--input", manifest, "--output", out,
		"--teacher", filepath.Join(ref, "teacher_tiny_openai.safetensors"), "--teacher-resolution", "64", "--size", "64",
		"--teacher-layers", "2", "--progress", "off"}, extra...)
	var code int
	var log string
	stderr := captureStderr(t, func() { code, log = capture(t, args...) })
	if code != 0 {
		t.Fatalf("prep exit %d:\n%s\n%s", code, log, stderr)
	}
	return out
}

// TestTrainStage2CLI: from a stage-1 student and the tiny stage-2 text encoder, 4 steps on a
// captioned dataset written by umt prep leave metrics, a loss curve and a checkpoint; --resume
// continues the step count to 6 with the losses of a straight 6-step run; a dataset without
// caption tokens, and one of another caption length, are refused with the fix.
func TestTrainStage2CLI(t *testing.T) {
	ref := testenv.RefData(t)
	data := prepCaptioned(t, true)
	out := t.TempDir()
	base := []string{"train", "stage2", "--data", data, "--init", filepath.Join(ref, "student_tiny_weights.safetensors"),
		"--text", filepath.Join(ref, "stage2_tiny_weights.safetensors"), "--config", "tiny", "--device", "cpu", "--threads", "2", "--log-every", "2"}
	code, log := capture(t, append(base, "--output", out, "--steps", "4")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	for _, want := range []string{"init: vision encoder from", "new [pool_norm.weight pool_norm.bias]", "init: text encoder from", "step 2/4", "loss", "uta", "vtc", "vtm", "mlm", "lr", "clips/s"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "loss.png")); err != nil || fi.Size() == 0 {
		t.Errorf("loss.png: %v", err)
	}
	for _, f := range []string{"model.safetensors", "optim.safetensors", "state.json"} {
		if _, err := os.Stat(filepath.Join(out, "checkpoints", "step-00000004", f)); err != nil {
			t.Error(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "checkpoints", "latest")); strings.TrimSpace(string(b)) != "step-00000004" {
		t.Errorf("latest names %q, want step-00000004", b)
	}
	code, log = capture(t, append(base, "--output", out, "--steps", "6", "--resume", filepath.Join(out, "checkpoints"))...)
	if code != 0 || !strings.Contains(log, "at step 4") || !strings.Contains(log, "step 6/6") {
		t.Fatalf("resume exit %d:\n%s", code, log)
	}
	resumed := readMetrics(t, filepath.Join(out, "metrics.jsonl"))
	full := t.TempDir()
	if code, log := capture(t, append(base, "--output", full, "--steps", "6")...); code != 0 {
		t.Fatalf("exit %d:\n%s", code, log)
	}
	straight := readMetrics(t, filepath.Join(full, "metrics.jsonl"))
	if len(resumed) != 6 || len(straight) != 6 {
		t.Fatalf("%d and %d metric lines, want 6", len(resumed), len(straight))
	}
	for i := range straight {
		for _, k := range []string{"step", "loss", "lr", "indices", "dataset"} {
			if fmt.Sprint(resumed[i][k]) != fmt.Sprint(straight[i][k]) {
				t.Fatalf("step %d %s: resumed run %v, straight run %v", i+1, k, resumed[i][k], straight[i][k])
			}
		}
	}

	// Refusals name the fix.
	bare := prepCaptioned(t, false)
	var stderr string
	stderr = captureStderr(t, func() { code, _ = capture(t, append(base, "--data", bare, "--output", t.TempDir())...) })
	if code != 1 || !strings.Contains(stderr, "umt prep --tokenizer") {
		t.Errorf("a dataset without caption tokens: exit %d, %q; want 1 and umt prep --tokenizer", code, stderr)
	}
	stderr = captureStderr(t, func() {
		code, _ = capture(t, append(base, "--set", "max_txt_l=16", "--output", t.TempDir())...)
	})
	if code != 1 || !strings.Contains(stderr, "--set max_txt_l=32") {
		t.Errorf("max_txt_l 16 on 32-id captions: exit %d, %q; want 1 and --set max_txt_l=32", code, stderr)
	}
	stderr = captureStderr(t, func() { code, _ = capture(t, append(base, "--set", "batch_size=0")...) })
	if code != 2 || !strings.Contains(stderr, "--set batch_size=") {
		t.Errorf("batch_size 0: exit %d, %q; want 2 and the --set that fixes it", code, stderr)
	}
	if code, _ := capture(t, "train", "stage2", "--data", data, "--config", "tiny"); code != 2 {
		t.Errorf("missing --init: exit %d, want 2", code)
	}
}
