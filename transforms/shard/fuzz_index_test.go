package shard

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpenIndex: a mutated index.json (or clip-id file) over valid shards opens with an error
// or reads rows, never panics and never returns a row whose clip id disagrees with the index.
func FuzzOpenIndex(f *testing.F) {
	ctx := context.Background()
	src := f.TempDir()
	p := small("visible:1")
	writeAll(f, openStore(f, src), p, rowsFor(p, 51, 5), []string{"i"}, WriterOptions{BatchRows: 2, TargetBytes: 6_000})
	if _, err := CommitIndex(ctx, src, IndexOptions{}); err != nil {
		f.Fatal(err)
	}
	index, err := os.ReadFile(filepath.Join(src, IndexName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(index)
	f.Add([]byte(`{"format":"umt.dataset","version":1,"schema_version":1,"rows":0,"shards":[],"failures":[]}`))
	f.Add([]byte(`{"format":"umt.dataset","version":1,"schema_version":1,"rows":-1}`))
	f.Add([]byte(`null`))
	entries, _ := os.ReadDir(src)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for _, e := range entries {
			if e.Name() != IndexName {
				os.Link(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name()))
			}
		}
		os.WriteFile(filepath.Join(dir, IndexName), data, 0o644)
		ds, err := Open(ctx, dir)
		if err != nil {
			return
		}
		defer ds.Close()
		ids := ds.ClipIDs()
		for i := 0; i < ds.Len() && i < 50; i++ {
			r, err := ds.Row(ctx, i)
			if err == nil && r.ClipID != ids[i] {
				t.Fatalf("row %d is %s, the index says %s", i, r.ClipID, ids[i])
			}
		}
		_ = ds.Verify(ctx)
	})
}
