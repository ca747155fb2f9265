package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/umt-dev/umt/transforms/storage/storagetest"
)

// readAllAt reads r whole through ReadAt in uneven pieces, small (cached) and large.
func readAllAt(t *testing.T, r Reader) []byte {
	t.Helper()
	out := make([]byte, 0, r.Size())
	for off, i := int64(0), 0; off < r.Size(); i++ {
		n := []int{4096, 300 << 10, 65536, 1}[i%4]
		b := make([]byte, n)
		got, err := r.ReadAt(b, off)
		if err != nil && !(err == io.EOF && off+int64(got) == r.Size()) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
		}
		out = append(out, b[:got]...)
		off += int64(got)
	}
	return out
}

// TestOpenFileReadsEveryKindOfServer: whatever the server does with Range, Open reads the
// whole file, byte for byte, and reports its size.
func TestOpenFileReadsEveryKindOfServer(t *testing.T) {
	data := randBytes(10, 1<<20+12345)
	for _, tc := range []struct {
		name            string
		ranges, chunked bool
	}{
		{"range", true, false},
		{"no-range", false, false},          // like Python's http.server
		{"no-range-no-length", false, true}, // chunked, no Content-Length
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := storagetest.NewHTTPServer(t, tc.ranges, map[string][]byte{"/v/a.mp4": data})
			srv.Chunked = tc.chunked
			r, err := Open(context.Background(), srv.URL+"/v/a.mp4", fastOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Size() != int64(len(data)) {
				t.Fatalf("Size = %d, want %d", r.Size(), len(data))
			}
			if !bytes.Equal(readAllAt(t, r), data) {
				t.Fatal("bytes differ")
			}
			if tc.ranges && srv.RangeRequests.Load() < 2 {
				t.Fatalf("%d range requests: a Range server should be read by ranges", srv.RangeRequests.Load())
			}
			if !tc.ranges && srv.Requests.Load() != 1 {
				t.Fatalf("%d requests to a server without Range, want one download", srv.Requests.Load())
			}
		})
	}
}

// TestHTTPCutMidBodyIsRetried: a connection dropped in the middle of a body is retried, with
// Range (the range read resumes) and without (the download starts again), and succeeds.
func TestHTTPCutMidBodyIsRetried(t *testing.T) {
	data := randBytes(11, 3<<20)
	for _, ranges := range []bool{true, false} {
		srv := storagetest.NewHTTPServer(t, ranges, map[string][]byte{"/a.bin": data})
		ctx := context.Background()
		if !ranges {
			srv.Inject(storagetest.Fault{Kind: "read", Cut: true}, storagetest.Fault{Kind: "read", Cut: true})
		}
		r, err := Open(ctx, srv.URL+"/a.bin", fastOpts())
		if err != nil {
			t.Fatalf("ranges=%v: open through cuts: %v", ranges, err)
		}
		if ranges {
			srv.Inject(storagetest.Fault{Kind: "read", Cut: true}, storagetest.Fault{Kind: "read", Cut: true})
		}
		if !bytes.Equal(readAllAt(t, r), data) {
			t.Fatalf("ranges=%v: bytes differ after cuts", ranges)
		}
		r.Close()
		if srv.Cuts.Load() != 2 {
			t.Fatalf("ranges=%v: %d cuts happened, want 2", ranges, srv.Cuts.Load())
		}
	}
}

// TestHTTPFailureClasses: missing only for a definite 404/410; refused, cut-every-time, hung
// and 5xx servers are unavailable (after retries); 403 is denied; a transient 503 passes.
func TestHTTPFailureClasses(t *testing.T) {
	data := randBytes(12, 100_000)
	o := fastOpts()
	o.OpTimeout, o.MaxAttempts = 300*time.Millisecond, 3
	ctx := context.Background()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + l.Addr().String() + "/a.bin"
	l.Close()
	hang := make(chan struct{})
	defer close(hang)
	for _, tc := range []struct {
		name   string
		ranges bool
		fault  *storagetest.Fault
		path   string
		want   error
	}{
		{"404", true, nil, "/none.bin", ErrNotExist},
		{"410", true, &storagetest.Fault{Kind: "read", Status: 410, Sticky: true}, "/a.bin", ErrNotExist},
		{"403", false, &storagetest.Fault{Kind: "read", Status: 403, Sticky: true}, "/a.bin", ErrDenied},
		{"503-always", true, &storagetest.Fault{Kind: "read", Sticky: true}, "/a.bin", ErrUnavailable},
		{"cut-always", false, &storagetest.Fault{Kind: "read", Cut: true, Sticky: true}, "/a.bin", ErrUnavailable},
		{"hang", true, &storagetest.Fault{Kind: "read", Hang: hang, Sticky: true}, "/a.bin", ErrUnavailable},
		{"refused", true, nil, "", ErrUnavailable},
		{"503-once", false, &storagetest.Fault{Kind: "read"}, "/a.bin", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := storagetest.NewHTTPServer(t, tc.ranges, map[string][]byte{"/a.bin": data})
			uri := srv.URL + tc.path
			if tc.path == "" {
				uri = refused
			}
			if tc.fault != nil {
				srv.Inject(*tc.fault)
			}
			start := time.Now()
			r, err := Open(ctx, uri, o)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v with a %v deadline", d, o.OpTimeout)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Open = %v, want success after a retry", err)
				}
				r.Close()
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrNotExist, ErrUnavailable, ErrDenied} {
				if other != tc.want && errors.Is(err, other) {
					t.Fatalf("Open = %v: also %v", err, other)
				}
			}
		})
	}
}

// TestHTTPDownloadCap: a server without Range whose body passes MaxDownload fails with
// ErrTooLarge (announced length or not), never as a short file.
func TestHTTPDownloadCap(t *testing.T) {
	data := randBytes(13, 300_000)
	for _, chunked := range []bool{false, true} {
		srv := storagetest.NewHTTPServer(t, false, map[string][]byte{"/a.bin": data})
		srv.Chunked = chunked
		o := fastOpts()
		o.MaxDownload = 100_000
		if _, err := Open(context.Background(), srv.URL+"/a.bin", o); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("chunked=%v: Open = %v, want ErrTooLarge", chunked, err)
		}
	}
}

// TestHTTPChangedResourceIsNotMixed: a file replaced between range reads fails the read
// (If-Range) instead of returning bytes of two versions.
func TestHTTPChangedResourceIsNotMixed(t *testing.T) {
	srv := storagetest.NewHTTPServer(t, true, map[string][]byte{"/a.bin": randBytes(14, 1<<20)})
	r, err := Open(context.Background(), srv.URL+"/a.bin", fastOpts())
	if err != nil {
		t.Fatal(err)
	}
	srv.Put("/a.bin", randBytes(15, 1<<20))
	if _, err := r.ReadAt(make([]byte, 4096), 600_000); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ReadAt after a change = %v, want ErrUnavailable", err)
	}
}

// TestHTTPEmptyResource: an empty file is a Reader of size 0 with either kind of server.
func TestHTTPEmptyResource(t *testing.T) {
	for _, ranges := range []bool{true, false} {
		srv := storagetest.NewHTTPServer(t, ranges, map[string][]byte{"/e": {}})
		r, err := Open(context.Background(), srv.URL+"/e", fastOpts())
		if err != nil || r.Size() != 0 {
			t.Fatalf("ranges=%v: Open(empty) = %v, %v", ranges, r, err)
		}
	}
}

// TestOpenFileLocal: a path and a percent-encoded file:// URI (any bytes, UTF-8 or not) open
// the same file; absence and directories are ErrNotExist; other schemes are invalid.
func TestOpenFileLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	name := "caf\xe9 v.mp4" // Latin-1, not UTF-8
	p := filepath.Join(dir, name)
	data := randBytes(16, 5000)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	u := (&url.URL{Scheme: "file", Path: p}).String()
	for _, uri := range []string{p, u, "FILE://" + u[len("file://"):]} {
		r, err := Open(ctx, uri)
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		if !bytes.Equal(readAllAt(t, r), data) {
			t.Fatalf("Open(%q): bytes differ", uri)
		}
		r.Close()
	}
	for _, absent := range []string{filepath.Join(dir, "none.mp4"), "file://" + filepath.Join(dir, "none.mp4"), dir} {
		if _, err := Open(ctx, absent); !errors.Is(err, ErrNotExist) {
			t.Errorf("Open(%q) = %v, want ErrNotExist", absent, err)
		}
	}
	for _, bad := range []string{"", "s3://b/x", "gs://b", "gs://b/", "gs:///x", "file://host/x", "file://"} {
		if _, err := Open(ctx, bad); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Open(%q) = %v, want ErrInvalidURI", bad, err)
		}
	}
}

// TestOpenFileGCS reads gs:// objects through the production client with the store's faults:
// 503s and cut reads are retried, an absent object is ErrNotExist.
func TestOpenFileGCS(t *testing.T) {
	e := storagetest.NewEmulator(t, "bkt")
	ctx := context.Background()
	data := randBytes(17, 2<<20)
	if err := WriteFile(ctx, "gs://bkt/k400/a.mp4", data, fastOpts()); err != nil {
		t.Fatal(err)
	}
	e.Inject(storagetest.Fault{Kind: "meta"}, storagetest.Fault{Kind: "read"}, storagetest.Fault{Kind: "read", Cut: true})
	r, err := Open(ctx, "gs://bkt/k400/a.mp4", fastOpts())
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(data)) || !bytes.Equal(readAllAt(t, r), data) {
		t.Fatal("bytes differ")
	}
	if e.Unavailable.Load() != 2 || e.Cuts.Load() != 1 {
		t.Fatalf("%d 503s and %d cuts served, want 2 and 1", e.Unavailable.Load(), e.Cuts.Load())
	}
	if _, err := Open(ctx, "gs://bkt/k400/none.mp4", fastOpts()); !errors.Is(err, ErrNotExist) {
		t.Fatalf("absent object: %v, want ErrNotExist", err)
	}
	o := fastOpts()
	o.MaxAttempts, o.OpTimeout = 2, 300*time.Millisecond
	e.Inject(storagetest.Fault{Kind: "meta", Sticky: true})
	if _, err := Open(ctx, "gs://bkt/k400/a.mp4", o); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("always 503: %v, want ErrUnavailable", err)
	}
}

// TestWriteFileIsAtomic: WriteFile creates or replaces a local file whole; a failing writer
// changes nothing and leaves no temporary file; gs:// objects appear whole, through cut
// uploads; http(s) cannot be written.
func TestWriteFileIsAtomic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "report.json")
	for _, data := range [][]byte{[]byte(`{"v":1}`), []byte(`{"v":22}`)} {
		if err := WriteFile(ctx, p, data); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
			t.Fatalf("read back %q, want %q", got, data)
		}
	}
	boom := errors.New("boom")
	err := Write(ctx, "file://"+p, func(w io.Writer) error { w.Write([]byte("half")); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the writer's error", err)
	}
	if got, _ := os.ReadFile(p); string(got) != `{"v":22}` {
		t.Fatalf("a failed write changed the file: %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Fatalf("%d entries beside the file, want only it (no temporary files)", len(ents))
	}

	e := storagetest.NewEmulator(t, "bkt")
	data := randBytes(18, 1<<20)
	e.Inject(storagetest.Fault{Kind: "upload", Cut: true, Chunk: true})
	if err := WriteFile(ctx, "gs://bkt/ckpt/model.safetensors", data, fastOpts()); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, "gs://bkt/ckpt/model.safetensors", fastOpts())
	if err != nil || !bytes.Equal(readAllAt(t, r), data) {
		t.Fatalf("gs:// read back: %v", err)
	}
	if e.Cuts.Load() != 1 {
		t.Fatalf("%d cuts, want 1", e.Cuts.Load())
	}
	if err := WriteFile(ctx, "https://example.com/x", data); !errors.Is(err, ErrInvalidURI) {
		t.Fatalf("WriteFile(https) = %v, want ErrInvalidURI", err)
	}
}
