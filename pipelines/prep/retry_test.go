package prep

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// retrySet copies a few good corpus videos into a fresh root and writes a manifest naming them
// plus late.mp4, which does not exist yet; arrive puts a good video there.
func retrySet(t *testing.T) (manifestPath, root string, arrive func()) {
	src, all := corpus(t)
	root = t.TempDir()
	var entries []truth
	for _, e := range all {
		if e.Expect == "ok" && e.SizeBytes < 300_000 && len(entries) < 3 {
			b, err := os.ReadFile(filepath.Join(src, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(e.Path)
			if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			entries = append(entries, truth{Path: name, Caption: e.Caption})
		}
	}
	late := filepath.Join(root, "late.mp4")
	entries = append(entries, truth{Path: "late.mp4", Caption: "arrives after the first run"})
	m := writeManifest(t, entries) // + a malformed row and a duplicate of the first
	arrive = func() {
		b, err := os.ReadFile(filepath.Join(root, entries[0].Path))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(late, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return m, root, arrive
}

// TestRetryFailed: a rerun keeps recorded failures (nothing recomputed) until --retry-failed,
// which redoes only them; once the missing video exists, the retried dataset equals a clean run
// over the fixed input, and the failures table says which attempt it was. The same holds for
// two phases: --phase=frames --retry-failed, then rerunning the teacher phase, gives the
// teacher dataset of a clean two-phase run.
func TestRetryFailed(t *testing.T) {
	m, root, arrive := retrySet(t)
	tmp := t.TempDir()
	cfg := tinyConfig(t, m, root, filepath.Join(tmp, "ds"))
	frames := tinyConfig(t, m, root, filepath.Join(tmp, "frames"))
	frames.Phase, frames.Teacher = PhaseFrames, ""
	teach := tinyConfig(t, frames.Output, "", filepath.Join(tmp, "teach"))
	teach.Phase = PhaseTeacher

	first := mustRun(t, cfg)
	mustRun(t, frames)
	mustRun(t, teach)
	if first.FailedByClass["missing"] != 1 {
		t.Fatalf("first run failures %v, want one missing", first.FailedByClass)
	}
	arrive()

	again := mustRun(t, cfg)
	if again.Computed != 0 || again.FailedByClass["missing"] != 1 || again.OK != first.OK {
		t.Fatalf("rerun without --retry-failed: computed %d, failures %v, ok %d (first ok %d)", again.Computed, again.FailedByClass, again.OK, first.OK)
	}
	cfg.RetryFailed = true
	retried := mustRun(t, cfg)
	if retried.Computed != 1 || retried.OK != first.OK+1 || retried.FailedByClass["missing"] != 0 || retried.Counters["failures_retried"] != 1 || !retried.Accounted {
		t.Fatalf("--retry-failed: computed %d ok %d failures %v retried %d", retried.Computed, retried.OK, retried.FailedByClass, retried.Counters["failures_retried"])
	}
	clean := cfg
	clean.RetryFailed, clean.Output = false, filepath.Join(tmp, "clean")
	mustRun(t, clean)
	if got, want := indexOf(t, cfg.Output), indexOf(t, clean.Output); got != want {
		t.Errorf("retried dataset differs from a clean run over the fixed input:\n%s\nvs\n%s", got, want)
	}

	// Two phases: retry in the frames phase, then rerun the teacher phase.
	frames.RetryFailed = true
	mustRun(t, frames)
	rep := mustRun(t, teach)
	if rep.Computed != 1 || rep.Committed != first.OK || rep.FailedByClass["missing"] != 0 {
		t.Errorf("teacher phase after the frames retry: computed %d committed %d failures %v", rep.Computed, rep.Committed, rep.FailedByClass)
	}
	_, rows1, fails1 := datasetContents(t, clean.Output)
	_, rows2, fails2 := datasetContents(t, teach.Output)
	if !reflect.DeepEqual(rows1, rows2) || !reflect.DeepEqual(fails1, fails2) {
		t.Errorf("two phases after the retry: %d rows, %d failures; clean one pass %d rows, %d failures", len(rows2), len(fails2), len(rows1), len(fails1))
	}
}
