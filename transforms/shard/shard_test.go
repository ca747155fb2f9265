package shard

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
	"github.com/umt-dev/umt/transforms/storage"
)

func small(layout string) schemas.Provenance { return schematest.Provenance(layout, 2, 16, 2, 16, 8) }

func rowsFor(p schemas.Provenance, seed uint64, n int) []schemas.ClipRow {
	var rows []schemas.ClipRow
	for i := 0; i < n; i++ {
		rows = append(rows, schematest.Row(p, seed*1000+uint64(i)))
	}
	return rows
}

func openStore(t testing.TB, uri string) storage.Store {
	t.Helper()
	s, err := storage.OpenStore(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// writeAll writes rows with one writer per key (rows split round-robin over keys) and
// returns the committed shard names.
func writeAll(t testing.TB, store storage.Store, p schemas.Provenance, rows []schemas.ClipRow, keys []string, o WriterOptions) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	for k, key := range keys {
		o.Key = key
		w, err := NewWriter(store, p, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := k; i < len(rows); i += len(keys) {
			if err := w.Write(ctx, rows[i]); err != nil {
				t.Fatal(err)
			}
		}
		infos, err := w.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range infos {
			names = append(names, in.Name)
		}
	}
	return names
}

// expectRows reads the dataset every way and compares with want (in index order).
func expectRows(t testing.TB, ds *Dataset, want map[string]schemas.ClipRow) {
	t.Helper()
	ctx := context.Background()
	if ds.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", ds.Len(), len(want))
	}
	ids := ds.ClipIDs()
	for i := ds.Len() - 1; i >= 0; i-- { // backwards: exercises the batch cache and random access
		row, err := ds.Row(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[row.ClipID]
		if !ok || !reflect.DeepEqual(row, w) {
			t.Fatalf("row %d (%s) differs from what was written", i, row.ClipID)
		}
		if ids[i] != row.ClipID || !ds.Has(row.ClipID) {
			t.Fatalf("row %d: ClipIDs/Has disagree", i)
		}
	}
	n := 0
	err := ds.Scan(ctx, func(i int, row schemas.ClipRow) error {
		if i != n || !reflect.DeepEqual(row, want[row.ClipID]) {
			t.Fatalf("Scan row %d differs", i)
		}
		n++
		return nil
	})
	if err != nil || n != len(want) {
		t.Fatalf("Scan: %d rows, %v", n, err)
	}
	if ds.Has("nope") {
		t.Fatal("Has(unknown) = true")
	}
}

func byID(rows []schemas.ClipRow) map[string]schemas.ClipRow {
	m := map[string]schemas.ClipRow{}
	for _, r := range rows {
		m[r.ClipID] = r
	}
	return m
}

// Property: in every layout and compression, with shards rolling at tiny sizes, every row
// written comes back identical by row id and by scan; Arrow buffers end at zero live bytes.
func TestRoundTripProperty(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		layout, comp string
		n, batch     int
		target       int64
		keys         []string
	}{
		{"full", CompressLZ4, 23, 4, 20_000, []string{"a", "b"}},
		{"visible:2", CompressNone, 17, 3, 1, []string{"k"}},
		{"visible:1", CompressZstd, 9, 1, 1 << 30, []string{"x", "y", "z"}},
		{"full", CompressNone, 1, 4, 1, []string{"one"}},
		{schemas.LayoutFrames, CompressLZ4, 11, 3, 20_000, []string{"f", "g"}}, // a two-phase prep's first phase
	} {
		t.Run(c.layout+"-"+c.comp, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			dir := t.TempDir()
			store := openStore(t, dir)
			p := small(c.layout)
			rows := rowsFor(p, uint64(c.n), c.n)
			names := writeAll(t, store, p, rows, c.keys, WriterOptions{BatchRows: c.batch, TargetBytes: c.target, Compression: c.comp, Allocator: mem})
			if c.target == 1 && len(names) != (c.n+c.batch-1)/c.batch {
				t.Fatalf("%d shards with a 1-byte target, want one per batch", len(names))
			}
			idx, err := CommitIndex(ctx, dir, IndexOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if idx.Rows != int64(c.n) || len(idx.Shards) != len(names) {
				t.Fatalf("index: %d rows %d shards, want %d, %d", idx.Rows, len(idx.Shards), c.n, len(names))
			}
			ds, err := Open(ctx, dir, OpenOptions{Allocator: mem, CacheBatches: 2})
			if err != nil {
				t.Fatal(err)
			}
			expectRows(t, ds, byID(rows))
			if err := ds.Verify(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ds.Close(); err != nil {
				t.Fatal(err)
			}
			mem.AssertSize(t, 0)
		})
	}
}

// Re-running the same writers over the same input commits nothing new and writes an identical
// index; a writer under the same key with different rows is refused.
func TestRerunIdempotent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	p := small("visible:2")
	rows := rowsFor(p, 5, 10)
	o := WriterOptions{BatchRows: 2, TargetBytes: 30_000}
	names := writeAll(t, store, p, rows, []string{"a", "b"}, o)
	if _, err := WriteFailures(ctx, store, "a", []schemas.FailureRow{{URI: "bad.mp4", ErrorClass: "truncated", Stage: "decode", Message: "eof", Attempt: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := CommitIndex(ctx, dir, IndexOptions{}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, IndexName))
	before := listing(t, dir)

	again := writeAll(t, store, p, rows, []string{"a", "b"}, o)
	if !reflect.DeepEqual(again, names) {
		t.Fatalf("rerun shard names %v, want %v", again, names)
	}
	if _, err := WriteFailures(ctx, store, "a", []schemas.FailureRow{{URI: "bad.mp4", ErrorClass: "truncated", Stage: "decode", Message: "eof", Attempt: 1}}); err != nil {
		t.Fatalf("rerun failures: %v", err)
	}
	if _, err := CommitIndex(ctx, dir, IndexOptions{}); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, IndexName))
	if !bytes.Equal(first, second) {
		t.Fatalf("index changed on rerun:\n%s\n%s", first, second)
	}
	if after := listing(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("objects changed on rerun:\n%v\n%v", before, after)
	}

	// Same key, different rows: the first shard's publish is refused.
	o.Key = "a"
	w, _ := NewWriter(store, p, o)
	for _, r := range rowsFor(p, 6, 2) {
		w.Write(ctx, r)
	}
	if _, err := w.Close(ctx); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("conflicting rerun: %v, want ErrExists", err)
	}
	ds, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	expectRows(t, ds, byID(rows))
	f, err := ds.Failures(ctx)
	if err != nil || len(f) != 1 || f[0].ErrorClass != "truncated" {
		t.Fatalf("Failures = %+v, %v", f, err)
	}
	if ds.Index().FailureRows != 1 || len(ds.Index().Failures) != 1 {
		t.Fatalf("index failures: %+v", ds.Index())
	}
}

// listing maps every file under dir (hidden included) to its content.
func listing(t testing.TB, dir string) map[string]string {
	m := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			m[strings.TrimPrefix(p, dir)] = string(b)
		}
		return err
	})
	return m
}

// An index built with an explicit shard list ignores orphans of failed attempts; without it,
// the duplicated clips are reported.
func TestIndexShardsAndDuplicates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	p := small("full")
	rows := rowsFor(p, 7, 6)
	good := writeAll(t, store, p, rows, []string{"good"}, WriterOptions{})
	writeAll(t, store, p, rows[:3], []string{"orphan"}, WriterOptions{}) // a failed attempt's output
	if _, err := CommitIndex(ctx, dir, IndexOptions{}); !errors.Is(err, ErrDuplicateClip) {
		t.Fatalf("CommitIndex with duplicates = %v, want ErrDuplicateClip", err)
	}
	if _, err := os.Stat(filepath.Join(dir, IndexName)); !os.IsNotExist(err) {
		t.Fatal("index written despite duplicates")
	}
	idx, err := CommitIndex(ctx, dir, IndexOptions{Shards: good})
	if err != nil || idx.Rows != 6 {
		t.Fatalf("CommitIndex(Shards) = %v rows, %v", idx, err)
	}
	if _, err := CommitIndex(ctx, dir, IndexOptions{Shards: []string{"shard-missing-00000.arrow"}}); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("missing shard: %v", err)
	}
	other := small("visible:1")
	writeAll(t, store, other, rowsFor(other, 8, 2), []string{"other"}, WriterOptions{})
	if _, err := CommitIndex(ctx, dir, IndexOptions{Shards: append(good, ShardName("other", 0))}); !errors.Is(err, schemas.ErrSchema) {
		t.Fatalf("mixed provenance: %v, want ErrSchema", err)
	}
}

// A lost or stale sidecar makes the index read the shard itself (and repair the sidecar).
func TestIndexWithoutSidecar(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	p := small("full")
	rows := rowsFor(p, 9, 5)
	names := writeAll(t, store, p, rows, []string{"s"}, WriterOptions{BatchRows: 2})
	want, _ := CommitIndex(ctx, dir, IndexOptions{})
	os.Remove(filepath.Join(dir, names[0]+sidecarSuffix))
	got, err := CommitIndex(ctx, dir, IndexOptions{})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("index without sidecar differs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, names[0]+sidecarSuffix)); err != nil {
		t.Fatal("sidecar not repaired")
	}
	if got, err := CommitIndex(ctx, dir, IndexOptions{Verify: true}); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("verified index differs: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(ctx, dir); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Open without index = %v, want ErrNoIndex", err)
	}
	os.WriteFile(filepath.Join(dir, IndexName), []byte("{not json"), 0o644)
	if _, err := Open(ctx, dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with broken index = %v, want ErrCorrupt", err)
	}
	if _, err := NewWriter(openStore(t, dir), small("full"), WriterOptions{Key: "bad/key"}); !errors.Is(err, storage.ErrName) {
		t.Fatalf("bad key: %v", err)
	}
	p := small("full")
	p.Precision = "f8"
	if _, err := NewWriter(openStore(t, dir), p, WriterOptions{Key: "k"}); !errors.Is(err, schemas.ErrSchema) {
		t.Fatalf("bad provenance: %v", err)
	}
	w, _ := NewWriter(openStore(t, dir), small("full"), WriterOptions{Key: "k"})
	r := schematest.Row(small("full"), 1)
	if err := w.Write(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, r); !errors.Is(err, schemas.ErrRow) {
		t.Fatalf("duplicate clip in one writer: %v", err)
	}
	bad := r.Clone()
	bad.ClipID = "other"
	bad.Frames = bad.Frames[1:]
	if err := w.Write(ctx, bad); !errors.Is(err, schemas.ErrRow) {
		t.Fatalf("invalid row: %v", err)
	}
	w.Abort()
	if l := listing(t, dir); len(l) != 1 {
		t.Fatalf("aborted writer left files: %v", l)
	}
}

// Damaged shards give classified errors, never panics or wrong rows.
func TestCorruptShards(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		damage func(path string)
		open   bool // whether Row still works (damage only Verify sees)
	}{
		{"truncated", func(p string) { os.Truncate(p, 1000) }, false},
		{"flipped feature byte", func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, true},
		{"zeroed footer", func(p string) {
			b, _ := os.ReadFile(p)
			for i := len(b) - 64; i < len(b)-10; i++ {
				b[i] = 0
			}
			os.WriteFile(p, b, 0o644)
		}, false},
		{"deleted", func(p string) { os.Remove(p) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := small("full")
			names := writeAll(t, openStore(t, dir), p, rowsFor(p, 11, 4), []string{"c"}, WriterOptions{Compression: CompressNone})
			if _, err := CommitIndex(ctx, dir, IndexOptions{}); err != nil {
				t.Fatal(err)
			}
			c.damage(filepath.Join(dir, names[0]))
			ds, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			var rowErr error
			for i := 0; i < ds.Len() && rowErr == nil; i++ {
				_, rowErr = ds.Row(ctx, i)
			}
			if c.open != (rowErr == nil) {
				t.Fatalf("Row error = %v (want error: %v)", rowErr, !c.open)
			}
			if rowErr != nil && !errors.Is(rowErr, ErrCorrupt) && !errors.Is(rowErr, storage.ErrNotExist) {
				t.Fatalf("Row error %v is not classified", rowErr)
			}
			if err := ds.Verify(ctx); err == nil {
				t.Fatal("Verify passed a damaged shard")
			}
		})
	}
}

// Row is safe for concurrent use: goroutines reading random rows through a small batch cache
// all get the rows that were written.
func TestConcurrentRows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := small("visible:1")
	rows := rowsFor(p, 13, 20)
	writeAll(t, openStore(t, dir), p, rows, []string{"c"}, WriterOptions{BatchRows: 3, TargetBytes: 10_000})
	if _, err := CommitIndex(ctx, dir, IndexOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(ctx, dir, OpenOptions{CacheBatches: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	want := byID(rows)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for k := 0; k < 100; k++ {
				i := (g*37 + k*11) % ds.Len()
				r, err := ds.Row(ctx, i)
				if err == nil && !reflect.DeepEqual(r, want[r.ClipID]) {
					err = errors.New("row differs")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := ds.RowOf(rows[5].ClipID); !ok {
		t.Fatal("RowOf misses a committed clip")
	}
	// A cancelled context fails the call but does not poison the dataset.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ds.Row(cctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Row with cancelled context = %v", err)
	}
	if _, err := ds.Row(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// TestVersion1DatasetStillReads: a dataset written by umt before schema version 2 (checked in
// under testdata/v1) opens, verifies and gives the same rows, with the version-2 fields empty.
func TestVersion1DatasetStillReads(t *testing.T) {
	ctx := context.Background()
	ds, err := Open(ctx, filepath.Join("testdata", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	p := small("visible:2")
	p.SchemaVersion = 1
	if ds.Index().SchemaVersion != 1 || ds.Provenance().SchemaVersion != 1 {
		t.Fatalf("schema version %d (provenance %d), want 1", ds.Index().SchemaVersion, ds.Provenance().SchemaVersion)
	}
	want := byID(rowsFor(p, 9, 3))
	expectRows(t, ds, want)
	fails, err := ds.Failures(ctx)
	if err != nil || len(fails) != 1 || fails[0].ErrorClass != schemas.ClassTruncated {
		t.Fatalf("failures %+v, %v", fails, err)
	}
}
