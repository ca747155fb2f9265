package export

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/transforms/storage/storagetest"
)

// byName returns an export's embeddings and failure classes by the video's file name (the clip
// id depends on the URI).
func byName(t *testing.T, root string) (rows map[string][]float32, classes map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, rs, err := ReadEmbeddings(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	fails, err := ReadFailures(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	rows, classes = map[string][]float32{}, map[string]string{}
	for _, r := range rs {
		rows[path.Base(r.SourceURI)] = r.Embedding
	}
	for _, f := range fails {
		classes[path.Base(f.URI)] = string(f.ErrorClass)
	}
	return rows, classes
}

// TestRemoteVideosWholeOrUnavailable: a manifest of videos served over http (with Range, and
// with connections cut mid-body) exports the embeddings and failure classes of the same files
// on disk; a server that is down makes every clip unavailable, a rerun keeps that, and
// --retry-failed once it is back gives the clean export's rows.
func TestRemoteVideosWholeOrUnavailable(t *testing.T) {
	src, all := testenv.Corpus(t)
	files := map[string][]byte{}
	var names []string
	for _, e := range all {
		if e.Expect == "ok" && !e.HasSpan() && e.SizeBytes < 300_000 && len(names) < 3 || e.Path == "bad/truncated_05pct_moovend.mp4" {
			b, err := os.ReadFile(filepath.Join(src, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			files[path.Base(e.Path)] = b
			names = append(names, path.Base(e.Path))
		}
	}
	names = append(names, "never_uploaded.mp4")
	manifestFor := func(base string) string {
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
	disk := t.TempDir()
	served := map[string][]byte{}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(disk, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		served["/v/"+n] = b
	}
	local := manifestConfig(t, manifestFor(disk), "", t.TempDir())
	mustExport(t, local)
	wantRows, wantClasses := byName(t, local.Output)
	if len(wantRows) != 3 || !reflect.DeepEqual(wantClasses, map[string]string{"truncated_05pct_moovend.mp4": "truncated", "never_uploaded.mp4": "missing"}) {
		t.Fatalf("local run: %d rows, failures %v", len(wantRows), wantClasses)
	}

	srv := storagetest.NewHTTPServer(t, true, served)
	srv.Inject(storagetest.Fault{Kind: "read", Cut: true}, storagetest.Fault{Kind: "read", Cut: true})
	cut := manifestConfig(t, manifestFor(srv.URL+"/v"), "", t.TempDir())
	mustExport(t, cut)
	if rows, classes := byName(t, cut.Output); !reflect.DeepEqual(classes, wantClasses) || !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("over http with cut connections: %d rows, failures %v; want the rows and classes of the files on disk", len(rows), classes)
	}

	down := storagetest.NewHTTPServer(t, false, served)
	down.Inject(storagetest.Fault{Kind: "read", Sticky: true})
	c := manifestConfig(t, manifestFor(down.URL+"/v"), "", t.TempDir())
	if rep := mustExport(t, c); rep.OK != 0 || rep.FailedByClass["unavailable"] != int64(len(names)) {
		t.Fatalf("server down: ok %d, failures %v; want every clip unavailable", rep.OK, rep.FailedByClass)
	}
	down.Clear()
	if rep := mustExport(t, c); rep.Computed != 0 || rep.FailedByClass["unavailable"] != int64(len(names)) {
		t.Fatalf("rerun without --retry-failed: computed %d, failures %v", rep.Computed, rep.FailedByClass)
	}
	c.RetryFailed = true
	rep := mustExport(t, c)
	if rows, classes := byName(t, c.Output); !reflect.DeepEqual(classes, wantClasses) || !reflect.DeepEqual(rows, wantRows) || rep.Retried != int64(len(names)) {
		t.Fatalf("--retry-failed with the server back: %d rows, failures %v, retried %d; want the clean export", len(rows), classes, rep.Retried)
	}
}
