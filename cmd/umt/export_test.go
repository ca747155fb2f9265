package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/pipelines/export"
	"github.com/umt-dev/umt/schemas"
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
