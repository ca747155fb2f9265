package shard

import (
	"context"
	"testing"

	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/storage/storagetest"
)

// A dataset on gs:// (fake-gcs-server, with 503s and cut connections injected during writes
// and reads) round-trips like a local one.
func TestGCSDataset(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	ctx := context.Background()
	uri := "gs://bkt/datasets/tiny"
	so := storage.Options{BackoffMin: 5e6, BackoffMax: 5e7, ChunkSize: 256 << 10}
	store, err := storage.OpenStore(ctx, uri, so)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := small("visible:2")
	rows := rowsFor(p, 31, 9)
	e.Inject(storagetest.Fault{Kind: "upload"}, storagetest.Fault{Kind: "upload", Cut: true}, storagetest.Fault{Kind: "meta"})
	names := writeAll(t, store, p, rows, []string{"g"}, WriterOptions{BatchRows: 2, TargetBytes: 20_000})
	if len(names) < 2 {
		t.Fatalf("%d shards, want several", len(names))
	}
	idx, err := CommitIndex(ctx, uri, IndexOptions{Storage: so})
	if err != nil {
		t.Fatal(err)
	}
	e.Inject(storagetest.Fault{Kind: "read"}, storagetest.Fault{Kind: "read", Cut: true})
	ds, err := Open(ctx, uri, OpenOptions{Storage: so})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	expectRows(t, ds, byID(rows))
	if err := ds.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Unavailable.Load() < 3 || e.Cuts.Load() < 2 {
		t.Fatalf("faults not exercised: %d 503s, %d cuts", e.Unavailable.Load(), e.Cuts.Load())
	}
	// The index built from a local copy of the same objects is identical: sidecars carry the
	// same facts on both stores.
	again, err := CommitIndex(ctx, uri, IndexOptions{Storage: so, Verify: true})
	if err != nil || again.Rows != idx.Rows || again.Shards[0].SHA256 != idx.Shards[0].SHA256 {
		t.Fatalf("verified index on GCS: %+v, %v", again, err)
	}
}
