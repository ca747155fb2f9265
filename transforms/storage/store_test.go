package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/umt-dev/umt/transforms/storage/storagetest"
)

func put(t *testing.T, s Store, name string, data []byte, opts CreateOptions) error {
	t.Helper()
	ctx := context.Background()
	w, err := s.Create(ctx, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	return w.Commit(ctx)
}

func get(t *testing.T, s Store, name string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if n, err := r.ReadAt(b, 0); err != nil || n != len(b) {
		t.Fatalf("ReadAt whole %s: n=%d err=%v", name, n, err)
	}
	return b
}

func names(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	l, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, o := range l {
		out = append(out, o.Name)
	}
	return out
}

func randBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// contract checks the behaviour every Store must have.
func contract(t *testing.T, s Store) {
	ctx := context.Background()
	data := randBytes(1, 700_000)
	if ok, err := s.Exists(ctx, "a/x.bin"); err != nil || ok {
		t.Fatalf("Exists before write = %v, %v", ok, err)
	}
	if _, err := s.Stat(ctx, "a/x.bin"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Stat absent = %v, want ErrNotExist", err)
	}
	if _, err := s.Open(ctx, "a/x.bin"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open absent = %v, want ErrNotExist", err)
	}

	// Staged bytes are readable for verification but invisible until Commit.
	w, err := s.Create(ctx, "a/x.bin", CreateOptions{IfNotExists: true, Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	staged, err := os.ReadFile(w.StagedPath())
	if err != nil || !bytes.Equal(staged, data) {
		t.Fatalf("staged file: %v (equal %v)", err, bytes.Equal(staged, data))
	}
	if got := names(t, s, ""); len(got) != 0 {
		t.Fatalf("objects visible before commit: %v", got)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Abort() // harmless after commit
	if _, err := os.Stat(w.StagedPath()); !os.IsNotExist(err) {
		t.Fatalf("staging file left after commit: %v", err)
	}
	if !bytes.Equal(get(t, s, "a/x.bin"), data) {
		t.Fatal("read back differs")
	}
	info, err := s.Stat(ctx, "a/x.bin")
	if err != nil || info.Size != int64(len(data)) || info.Name != "a/x.bin" {
		t.Fatalf("Stat = %+v, %v", info, err)
	}

	// Range reads, small (cached on GCS) and large, and at the end.
	r, err := s.Open(ctx, "a/x.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, n int }{{0, 10}, {1000, 100}, {262140, 10}, {5, 400_000}, {len(data) - 7, 7}} {
		b := make([]byte, c.n)
		if n, err := r.ReadAt(b, int64(c.off)); err != nil || n != c.n || !bytes.Equal(b, data[c.off:c.off+c.n]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", c.off, c.n, n, err)
		}
	}
	b := make([]byte, 10)
	if n, err := r.ReadAt(b, int64(len(data)-3)); err != io.EOF || n != 3 {
		t.Fatalf("ReadAt past end = %d, %v; want 3, EOF", n, err)
	}
	r.Close()

	// Exactly-once: the same bytes again is a no-op success, different bytes are refused.
	if err := put(t, s, "a/x.bin", data, CreateOptions{IfNotExists: true}); err != nil {
		t.Fatalf("re-commit of identical bytes: %v", err)
	}
	if err := put(t, s, "a/x.bin", data[1:], CreateOptions{IfNotExists: true}); !errors.Is(err, ErrExists) {
		t.Fatalf("commit over different object = %v, want ErrExists", err)
	}
	if !bytes.Equal(get(t, s, "a/x.bin"), data) {
		t.Fatal("refused commit changed the object")
	}
	// Without IfNotExists a commit replaces the object.
	if err := put(t, s, "a/x.bin", []byte("new"), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "a/x.bin"); string(got) != "new" {
		t.Fatalf("overwrite: got %q", got)
	}

	// Abort leaves nothing.
	w, _ = s.Create(ctx, "b.bin", CreateOptions{})
	w.Write([]byte("zzz"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b.bin", "c/d.bin", "c/e.bin"} {
		if n != "b.bin" {
			if err := put(t, s, n, []byte(n), CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := names(t, s, ""), []string{"a/x.bin", "c/d.bin", "c/e.bin"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if got, want := names(t, s, "c/"), []string{"c/d.bin", "c/e.bin"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List(c/) = %v, want %v", got, want)
	}
	if err := s.Delete(ctx, "c/d.bin"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "c/d.bin"); err != nil {
		t.Fatalf("delete absent: %v", err)
	}
	if ok, _ := s.Exists(ctx, "c/d.bin"); ok {
		t.Fatal("deleted object exists")
	}
	for _, bad := range []string{"", "/abs", "../up", "a/../b", "a/", ".hidden", "a/.tmp-x", `a\b`} {
		if _, err := s.Create(ctx, bad, CreateOptions{}); !errors.Is(err, ErrName) {
			t.Errorf("Create(%q) = %v, want ErrName", bad, err)
		}
	}
}

func TestLocalContract(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	s, err := OpenStore(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, s)
	if p, ok := s.LocalPath("a/x.bin"); !ok || p != filepath.Join(dir, "a", "x.bin") {
		t.Fatalf("LocalPath = %q, %v", p, ok)
	}
	// A crashed writer's staging file is hidden from List.
	os.WriteFile(filepath.Join(dir, ".tmp-shard-x"), []byte("half"), 0o644)
	for _, n := range names(t, s, "") {
		if filepath.Base(n)[0] == '.' {
			t.Fatalf("List returned staging file %s", n)
		}
	}
}

func TestOpenURIs(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"", "s3://b/x", "gs://", "gs:///x", "gs://b/../x"} {
		if _, err := OpenStore(ctx, bad); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURI", bad, err)
		}
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := OpenStore(ctx, f); !errors.Is(err, ErrInvalidURI) {
		t.Errorf("Open(file) = %v, want ErrInvalidURI", err)
	}
	s, err := OpenStore(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.LocalPath("x"); !ok {
		t.Fatal("file:// store is not local")
	}
}

func fastOpts() Options {
	return Options{OpTimeout: 5 * time.Second, UploadTimeout: 20 * time.Second, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond, ChunkSize: 256 << 10}
}

func openGS(t *testing.T, uri string, o Options) Store {
	t.Helper()
	s, err := OpenStore(context.Background(), uri, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestGCSContract(t *testing.T) {
	storagetest.NewEmulator(t, "bkt")
	s := openGS(t, "gs://bkt/data/ds", fastOpts())
	if s.URI() != "gs://bkt/data/ds" {
		t.Fatalf("URI = %q", s.URI())
	}
	contract(t, s)
	info, err := s.Stat(context.Background(), "a/x.bin")
	if err != nil || info.CRC32C == 0 {
		t.Fatalf("Stat on GCS: %+v %v", info, err)
	}
}

func TestGCSMetadata(t *testing.T) {
	storagetest.NewEmulator(t, "bkt")
	s := openGS(t, "gs://bkt", fastOpts())
	if err := put(t, s, "m.bin", []byte("x"), CreateOptions{Metadata: map[string]string{"umt-rows": "3"}}); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(context.Background(), "")
	if err != nil || len(l) != 1 || l[0].Metadata["umt-rows"] != "3" {
		t.Fatalf("List = %+v, %v", l, err)
	}
}

// Injected 503s on uploads, metadata calls and reads are retried to success.
func TestGCS503Retried(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	s := openGS(t, "gs://bkt/ds", fastOpts())
	data := randBytes(2, 1<<20)
	e.Inject(storagetest.Fault{Kind: "upload"}, storagetest.Fault{Kind: "upload"}, storagetest.Fault{Kind: "meta"})
	if err := put(t, s, "x.bin", data, CreateOptions{IfNotExists: true}); err != nil {
		t.Fatalf("upload through 503s: %v", err)
	}
	e.Inject(storagetest.Fault{Kind: "meta"}, storagetest.Fault{Kind: "read"}, storagetest.Fault{Kind: "read"})
	if !bytes.Equal(get(t, s, "x.bin"), data) {
		t.Fatal("read back differs")
	}
	if n := e.Unavailable.Load(); n != 6 {
		t.Fatalf("%d injected 503s served, want 6 (faults not exercised)", n)
	}
}

// A connection cut in the middle of an upload leaves nothing visible; the retried upload
// lands the whole object exactly once.
func TestGCSCutUploadRetried(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	o := fastOpts()
	s := openGS(t, "gs://bkt/ds", o)
	data := randBytes(3, 3<<20)

	// Every attempt cut: the commit fails and nothing, not even part, is visible.
	// The client keeps retrying a cut session start until the attempt's deadline: keep it short.
	o.MaxAttempts, o.OpTimeout, o.UploadTimeout = 2, 300*time.Millisecond, time.Second
	s2 := openGS(t, "gs://bkt/ds", o)
	e.Inject(storagetest.Fault{Kind: "upload", Cut: true, Sticky: true})
	if err := put(t, s2, "x.bin", data, CreateOptions{IfNotExists: true}); err == nil {
		t.Fatal("upload with every connection cut succeeded")
	}
	if got := names(t, s, ""); len(got) != 0 {
		t.Fatalf("half-written objects visible after failed upload: %v", got)
	}
	e.Clear()

	// Two cuts, then the line holds: retried to success, content intact.
	before := e.Cuts.Load()
	// One cut at the session start, two in the middle of data chunks.
	e.Inject(storagetest.Fault{Kind: "upload", Cut: true}, storagetest.Fault{Kind: "upload", Cut: true, Chunk: true}, storagetest.Fault{Kind: "upload", Cut: true, Chunk: true})
	if err := put(t, s, "x.bin", data, CreateOptions{IfNotExists: true}); err != nil {
		t.Fatalf("upload through cut connections: %v", err)
	}
	if e.Cuts.Load()-before != 3 {
		t.Fatalf("%d cuts happened, want 3", e.Cuts.Load()-before)
	}
	if !bytes.Equal(get(t, s, "x.bin"), data) {
		t.Fatal("object differs after retried upload")
	}
	if got := names(t, s, ""); !reflect.DeepEqual(got, []string{"x.bin"}) {
		t.Fatalf("objects after retried upload: %v", got)
	}
}

// A connection cut in the middle of a range read is resumed.
func TestGCSCutReadRetried(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	s := openGS(t, "gs://bkt/ds", fastOpts())
	data := randBytes(4, 2<<20)
	if err := put(t, s, "x.bin", data, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(context.Background(), "x.bin")
	if err != nil {
		t.Fatal(err)
	}
	e.Inject(storagetest.Fault{Kind: "read", Cut: true})
	b := make([]byte, 1<<20)
	if n, err := r.ReadAt(b, 12345); err != nil || n != len(b) || !bytes.Equal(b, data[12345:12345+len(b)]) {
		t.Fatalf("ReadAt through a cut = %d, %v", n, err)
	}
	if e.Cuts.Load() != 1 {
		t.Fatalf("%d cuts, want 1", e.Cuts.Load())
	}
}

// A server that never answers hits the per-call deadline instead of hanging.
func TestGCSDeadline(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	o := fastOpts()
	o.OpTimeout, o.MaxAttempts = 200*time.Millisecond, 2
	s := openGS(t, "gs://bkt/ds", o)
	hang := make(chan struct{})
	defer close(hang)
	for i := 0; i < 10; i++ {
		e.Inject(storagetest.Fault{Kind: "meta", Hang: hang})
	}
	start := time.Now()
	_, err := s.Stat(context.Background(), "x.bin")
	if err == nil || errors.Is(err, ErrNotExist) {
		t.Fatalf("Stat against a hung server = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stat took %v despite a 200ms deadline", d)
	}
}

// Small reads (Arrow footers and headers) are served from the reader's block cache: reading
// the same small ranges again makes no request.
func TestGCSSmallReadCache(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	s := openGS(t, "gs://bkt/ds", fastOpts())
	data := randBytes(5, 1<<20)
	if err := put(t, s, "x.bin", data, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(context.Background(), "x.bin")
	if err != nil {
		t.Fatal(err)
	}
	read := func() {
		for _, off := range []int64{0, 100, int64(len(data)) - 10, int64(len(data)) - 4096} {
			b := make([]byte, 10)
			if _, err := r.ReadAt(b, off); err != nil || !bytes.Equal(b, data[off:off+10]) {
				t.Fatalf("ReadAt(%d): %v", off, err)
			}
		}
	}
	read()
	before := e.Reads.Load()
	read()
	if got := e.Reads.Load() - before; got != 0 {
		t.Fatalf("%d requests for cached small reads, want 0", got)
	}
	if before == 0 || before > 2 {
		t.Fatalf("%d requests for 4 small reads in 2 blocks, want 1-2", before)
	}
}

func TestRemoveStaging(t *testing.T) {
	dir := t.TempDir()
	s, _ := OpenStore(context.Background(), dir)
	w, _ := s.Create(context.Background(), "live.bin", CreateOptions{}) // a writer still running
	w.Write([]byte("x"))
	old := filepath.Join(dir, ".tmp-shard-a-00000.arrow-dead")
	os.WriteFile(old, []byte("half"), 0o644)
	past := time.Now().Add(-48 * time.Hour)
	os.Chtimes(old, past, past)
	os.WriteFile(filepath.Join(dir, "kept.bin"), []byte("k"), 0o644)
	os.Chtimes(filepath.Join(dir, "kept.bin"), past, past)
	n, err := RemoveStaging(s, 24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaging = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatal("old staging file kept")
	}
	if _, err := os.Stat(w.StagedPath()); err != nil {
		t.Fatal("a running writer's fresh staging file was removed")
	}
	if _, err := os.Stat(filepath.Join(dir, "kept.bin")); err != nil {
		t.Fatal("a committed object was removed")
	}
	if err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}
