package prep

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/umt-dev/umt/transforms/storage/storagetest"
)

// remoteSet picks three small good videos and a really truncated one from the corpus, plus a
// name no server has, and writes a manifest of them under base (a local directory or a URL).
func remoteSet(t *testing.T) (files map[string][]byte, manifestFor func(base string) string) {
	src, all := corpus(t)
	files = map[string][]byte{}
	var names []string
	for _, e := range all {
		if e.Expect == "ok" && e.SizeBytes < 300_000 && len(names) < 3 || e.Path == "bad/truncated_05pct_moovend.mp4" {
			b, err := os.ReadFile(filepath.Join(src, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			files[path.Base(e.Path)] = b
			names = append(names, path.Base(e.Path))
		}
	}
	names = append(names, "never_uploaded.mp4")
	return files, func(base string) string {
		p := filepath.Join(t.TempDir(), "manifest.jsonl")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			json.NewEncoder(f).Encode(map[string]any{"uri": base + "/" + n, "caption": "clip " + n})
		}
		f.Close()
		return p
	}
}

// rowsByName returns a dataset's frames and their times by the video's file name (the teacher's
// stored tokens depend on the clip id, which the URI changes), and its failure classes.
func rowsByName(t *testing.T, uri string) (rows map[string][2]any, classes map[string]string) {
	_, byID, fails := datasetContents(t, uri)
	rows, classes = map[string][2]any{}, map[string]string{}
	for _, r := range byID {
		rows[path.Base(r.SourceURI)] = [2]any{r.Frames, r.FrameTimeS}
	}
	for _, f := range fails {
		classes[path.Base(f.URI)] = string(f.ErrorClass)
	}
	return rows, classes
}

// TestRemoteVideosWholeOrUnavailable: videos served over http by a server with Range, by one
// that ignores Range (Python's http.server: 200 and the whole body) and by one that drops
// connections mid-body make the same dataset as the same files on disk: a whole file is never
// called truncated, a really truncated one still is, and a 404 is missing. A server that is
// down makes its clips unavailable (not missing, not truncated), and --retry-failed once it is
// back gives the dataset of a clean run.
func TestRemoteVideosWholeOrUnavailable(t *testing.T) {
	files, manifestFor := remoteSet(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "videos")
	os.MkdirAll(root, 0o755)
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(root, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := tinyConfig(t, manifestFor(root), "", filepath.Join(tmp, "local"))
	mustRun(t, cfg)
	wantRows, wantClasses := rowsByName(t, cfg.Output)
	if len(wantRows) != 3 || !reflect.DeepEqual(wantClasses, map[string]string{"truncated_05pct_moovend.mp4": "truncated", "never_uploaded.mp4": "missing"}) {
		t.Fatalf("local run: %d rows, failures %v", len(wantRows), wantClasses)
	}
	served := map[string][]byte{}
	for n, b := range files {
		served["/v/"+n] = b
	}
	for _, tc := range []struct {
		name   string
		ranges bool
		cuts   int
	}{
		{"range", true, 0},
		{"no-range", false, 0},
		{"range-cut-mid-body", true, 2},
		{"no-range-cut-mid-body", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := storagetest.NewHTTPServer(t, tc.ranges, served)
			for range tc.cuts {
				srv.Inject(storagetest.Fault{Kind: "read", Cut: true})
			}
			c := tinyConfig(t, manifestFor(srv.URL+"/v"), "", filepath.Join(t.TempDir(), "ds"))
			mustRun(t, c)
			rows, classes := rowsByName(t, c.Output)
			if !reflect.DeepEqual(classes, wantClasses) {
				t.Errorf("failure classes %v, want %v as from disk", classes, wantClasses)
			}
			if !reflect.DeepEqual(rows, wantRows) {
				t.Errorf("rows over http differ from the rows of the same files on disk (%d vs %d rows)", len(rows), len(wantRows))
			}
			if srv.Cuts.Load() != int64(tc.cuts) {
				t.Errorf("%d cuts served, want %d", srv.Cuts.Load(), tc.cuts)
			}
		})
	}

	t.Run("down-then-retry-failed", func(t *testing.T) {
		srv := storagetest.NewHTTPServer(t, false, served)
		srv.Inject(storagetest.Fault{Kind: "read", Sticky: true})
		c := tinyConfig(t, manifestFor(srv.URL+"/v"), "", filepath.Join(t.TempDir(), "ds"))
		rep := mustRun(t, c)
		if rep.OK != 0 || rep.FailedByClass["unavailable"] != int64(len(files)+1) {
			t.Fatalf("server down: ok %d, failures %v; want every clip unavailable", rep.OK, rep.FailedByClass)
		}
		srv.Clear()
		rep = mustRun(t, c)
		if rep.Computed != 0 || rep.FailedByClass["unavailable"] != int64(len(files)+1) {
			t.Fatalf("rerun without --retry-failed: computed %d, failures %v", rep.Computed, rep.FailedByClass)
		}
		c.RetryFailed = true
		rep = mustRun(t, c)
		rows, classes := rowsByName(t, c.Output)
		if !reflect.DeepEqual(classes, wantClasses) || !reflect.DeepEqual(rows, wantRows) || rep.Counters["failures_retried"] != int64(len(files)+1) {
			t.Fatalf("--retry-failed with the server back: %d rows, failures %v, retried %d; want the clean dataset", len(rows), classes, rep.Counters["failures_retried"])
		}
	})
}
