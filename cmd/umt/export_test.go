package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/pipelines/export"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/index"
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
