package manifest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/storage/storagetest"
)

// remoteManifests serves the same CSV and Parquet manifests from a Range web server, a web
// server without Range (Python's http.server) and fake-gcs-server, and returns their base URIs
// with the fault injector of each, which also counts the faults served since it was called.
func remoteManifests(t *testing.T, files map[string][]byte) map[string]func(...storagetest.Fault) (base string, fired func() int64) {
	withRange := storagetest.NewHTTPServer(t, true, files)
	noRange := storagetest.NewHTTPServer(t, false, files)
	gcs := storagetest.NewEmulator(t, "corpus")
	for name, b := range files {
		if err := storage.WriteFile(context.Background(), "gs://corpus"+name, b); err != nil {
			t.Fatal(err)
		}
	}
	web := func(s *storagetest.HTTPServer) func(...storagetest.Fault) (string, func() int64) {
		return func(f ...storagetest.Fault) (string, func() int64) {
			s.Clear()
			s.Inject(f...)
			before := s.Unavailable.Load() + s.Cuts.Load()
			return s.URL, func() int64 { return s.Unavailable.Load() + s.Cuts.Load() - before }
		}
	}
	return map[string]func(...storagetest.Fault) (string, func() int64){
		"https-range":    web(withRange),
		"https-no-range": web(noRange),
		"gs": func(f ...storagetest.Fault) (string, func() int64) {
			gcs.Clear()
			before := gcs.Unavailable.Load() + gcs.Cuts.Load()
			for _, x := range f { // the first request of a GCS read is its metadata call
				if x.Kind == "read" && !x.Cut {
					x.Kind = "meta"
				}
				gcs.Inject(x)
			}
			return "gs://corpus", func() int64 { return gcs.Unavailable.Load() + gcs.Cuts.Load() - before }
		},
	}
}

// TestRemoteManifestFaults gives manifests read over https:// (with and without Range) and
// gs:// the faults the shard store is tested against: 503s and cut connections are retried to
// the same rows as a clean read; a server that stays down is storage.ErrUnavailable; one that
// hangs hits the deadline instead of hanging the job; an absent manifest is
// storage.ErrNotExist; none of them is taken for a short manifest.
func TestRemoteManifestFaults(t *testing.T) {
	csv := []byte("a/x.mp4,12\nb/y.mp4,3\n")
	files := map[string][]byte{"/k400/train.csv": csv, "/k400/m.parquet": parquetManifest(t)}
	ctx := context.Background()
	fast := storage.Options{OpTimeout: 300 * time.Millisecond, MaxAttempts: 3, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond}
	hang := make(chan struct{})
	defer close(hang)
	for kind, serve := range remoteManifests(t, files) {
		for _, tc := range []struct {
			name   string
			faults []storagetest.Fault
			want   error
		}{
			{"clean", nil, nil},
			{"503-twice", []storagetest.Fault{{Kind: "read"}, {Kind: "read"}}, nil},
			{"cut-mid-body", []storagetest.Fault{{Kind: "read", Cut: true}}, nil},
			{"503-always", []storagetest.Fault{{Kind: "read", Sticky: true}}, storage.ErrUnavailable},
			{"hang", []storagetest.Fault{{Kind: "read", Hang: hang, Sticky: true}}, storage.ErrUnavailable},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				base, fired := serve(tc.faults...)
				start := time.Now()
				rows, err := ReadAll(ctx, base+"/k400/train.csv", Options{Storage: fast})
				if d := time.Since(start); d > 10*time.Second {
					t.Fatalf("took %v with a %v deadline", d, fast.OpTimeout)
				}
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("ReadAll = %d rows, %v; want %v", len(rows), err, tc.want)
					}
					return
				}
				want := []Row{{URI: base + "/k400/a/x.mp4", Label: "12"}, {Index: 1, URI: base + "/k400/b/y.mp4", Label: "3"}}
				if err != nil || !reflect.DeepEqual(rows, want) {
					t.Fatalf("ReadAll = %+v, %v; want %+v", rows, err, want)
				}
				if n := fired(); n != int64(len(tc.faults)) {
					t.Fatalf("%d faults served, want %d (the test did not exercise them)", n, len(tc.faults))
				}
				_, fired = serve(tc.faults...)
				rows, err = ReadAll(ctx, base+"/k400/m.parquet", Options{Root: "/r", Storage: fast})
				if err != nil || !reflect.DeepEqual(rows, wantParquet) {
					t.Fatalf("Parquet: %+v, %v", rows, err)
				}
				if n := fired(); n != int64(len(tc.faults)) {
					t.Fatalf("Parquet: %d faults served, want %d", n, len(tc.faults))
				}
			})
		}
		t.Run(kind+"/absent", func(t *testing.T) {
			base, _ := serve()
			if _, err := ReadAll(ctx, base+"/k400/none.csv", Options{Storage: fast}); !errors.Is(err, storage.ErrNotExist) {
				t.Fatalf("absent manifest: %v, want storage.ErrNotExist", err)
			}
		})
	}
}
