package main

import (
	"bufio"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// makeDataset commits a small dataset of n rows and two failures and returns its directory
// and rows.
func makeDataset(t *testing.T, n int) (string, []schemas.ClipRow, schemas.Provenance) {
	return makeLayoutDataset(t, n, "visible:2")
}

// makeLayoutDataset is makeDataset in the given layout ("frames" for a frames-only dataset).
func makeLayoutDataset(t *testing.T, n int, layout string) (string, []schemas.ClipRow, schemas.Provenance) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := storage.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	p := schematest.Provenance(layout, 2, 16, 2, 16, 8)
	w, err := shard.NewWriter(store, p, shard.WriterOptions{Key: "t", BatchRows: 2, TargetBytes: 4_000})
	if err != nil {
		t.Fatal(err)
	}
	var rows []schemas.ClipRow
	for i := 0; i < n; i++ {
		r := schematest.Row(p, uint64(i))
		rows = append(rows, r)
		if err := w.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fails := []schemas.FailureRow{
		{URI: "a.mp4", ErrorClass: "truncated", Stage: "decode", Attempt: 1},
		{URI: "b.mp4", ErrorClass: "truncated", Stage: "decode", Attempt: 1},
	}
	if _, err := shard.WriteFailures(ctx, store, "t", fails); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.CommitIndex(ctx, dir, shard.IndexOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	return dir, rows, p
}

func TestInspectShardsJSON(t *testing.T) {
	dir, rows, _ := makeDataset(t, 5)
	code, out := capture(t, "inspect", "shards", "--json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	// Flags may follow the positional argument: the same command, the same JSON.
	if code, after := capture(t, "inspect", "shards", dir, "--json"); code != 0 || after != out {
		t.Fatalf("inspect shards DIR --json: exit %d, output %q; want what --json DIR printed", code, after)
	}
	var s struct {
		Rows, Failures, Shards, Bytes int64
		BytesPerClip                  float64        `json:"bytes_per_clip"`
		FailureClasses                map[string]int `json:"failure_classes"`
		Columns                       []struct {
			Name         string
			BytesPerClip float64 `json:"bytes_per_clip"`
		}
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	var onDisk int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".arrow") {
			fi, _ := e.Info()
			onDisk += fi.Size()
		}
	}
	if s.Rows != int64(len(rows)) || s.Failures != 2 || s.Shards < 2 || s.Bytes != onDisk || s.FailureClasses["truncated"] != 2 {
		t.Fatalf("summary %+v (arrow bytes on disk %d)", s, onDisk)
	}
	for _, c := range s.Columns {
		if c.Name == "frames" && c.BytesPerClip != float64(len(rows[0].Frames)) {
			t.Fatalf("frames bytes per clip %v, want %d", c.BytesPerClip, len(rows[0].Frames))
		}
	}
}

func TestInspectShardsRowsAndFrames(t *testing.T) {
	dir, rows, p := makeDataset(t, 3)
	out := filepath.Join(t.TempDir(), "png")
	code, text := capture(t, "inspect", "shards", "--rows", "2", "--frames-out", out, "--verify", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	if !strings.Contains(text, "test/tiny-clip") || !strings.Contains(text, "visible:2") || !strings.Contains(text, "verify: every shard") {
		t.Fatalf("text output lacks provenance or verify line:\n%s", text)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	var got []map[string]any
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "{") {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d row lines, want 2:\n%s", len(got), text)
	}
	byID := map[string]schemas.ClipRow{}
	for _, r := range rows {
		byID[r.ClipID] = r
	}
	for _, m := range got {
		r := byID[m["clip_id"].(string)]
		pngs := m["frame_png"].([]any)
		if len(pngs) != p.Frames {
			t.Fatalf("%d PNGs, want %d", len(pngs), p.Frames)
		}
		f, err := os.Open(pngs[1].(string))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		S := p.Size
		x, y := 5, 7
		cr, cg, cb, _ := img.At(x, y).RGBA()
		k := (1*S*S + y*S + x) * 3
		if byte(cr>>8) != r.Frames[k] || byte(cg>>8) != r.Frames[k+1] || byte(cb>>8) != r.Frames[k+2] {
			t.Fatalf("PNG pixel (%d,%d) of frame 1 differs from the row's frames", x, y)
		}
		norm := m["teacher_features"].(map[string]any)["extra"].(map[string]any)["mean_token_l2_norm"].(float64)
		if norm <= 0 {
			t.Fatalf("feature norm %v", norm)
		}
	}
}

func TestInspectShardsErrors(t *testing.T) {
	if code, _ := capture(t, "inspect", "shards"); code != 2 {
		t.Fatalf("no argument: exit %d, want 2", code)
	}
	if code, _ := capture(t, "inspect", "shards", "--frames-out", "/tmp/x", t.TempDir()); code != 2 {
		t.Fatalf("--frames-out without --rows: exit %d, want 2", code)
	}
	if code, _ := capture(t, "inspect", "shards", t.TempDir()); code != 1 {
		t.Fatalf("uncommitted dataset: exit %d, want 1", code)
	}
}

// A frames-only dataset (prep --phase=frames) is described without teacher fields, says how to
// add the teacher, and its rows show frames and no teacher tensors.
func TestInspectShardsFramesDataset(t *testing.T) {
	dir, rows, _ := makeLayoutDataset(t, 3, schemas.LayoutFrames)
	code, text := capture(t, "inspect", "shards", "--rows", "1", "--verify", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, text)
	}
	for _, want := range []string{"layout         frames", "umt prep --phase=teacher --input " + dir, "shapes         T=2 S=16\n", "verify: every shard"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["teacher_features"]; ok || m["frames"] == nil || m["clip_id"] != rows[0].ClipID && m["clip_id"] != rows[1].ClipID && m["clip_id"] != rows[2].ClipID {
			t.Errorf("frames-only row: %v", m)
		}
	}
}
