package storage

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// emulator is fake-gcs-server served in-process behind a real HTTP handler that can inject
// faults: 503 answers and connections cut in the middle of a request body. The GCS client
// under test talks real HTTP to it through STORAGE_EMULATOR_HOST, as in production.
type emulator struct {
	srv  *fakestorage.Server
	http *httptest.Server

	mu     sync.Mutex
	faults []fault

	uploads, reads, cuts, unavailable atomic.Int64
}

// fault applies to the next request whose kind matches ("upload", "read", "meta").
type fault struct {
	kind   string
	cut    bool          // cut the connection after reading part of the body (uploads) or sending part of it (reads)
	hang   chan struct{} // block until closed (deadline tests)
	sticky bool          // stays armed for every later request until cleared
	chunk  bool          // only a resumable upload's data request (upload_id set), not its start
}

func newEmulator(t *testing.T, bucket string) *emulator {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true, Scheme: "http", PublicHost: host, ExternalURL: "http://" + host, Writer: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	e := &emulator{srv: srv}
	e.http = httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
	e.http.Listener.Close()
	e.http.Listener = l
	e.http.Start()
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	t.Cleanup(func() {
		e.http.CloseClientConnections()
		e.http.Close()
		srv.Stop()
	})
	return e
}

func kindOf(r *http.Request) string {
	switch {
	case strings.Contains(r.URL.Path, "/upload/"):
		return "upload"
	case r.Method == http.MethodGet && !strings.Contains(r.URL.Path, "/storage/v1/") || r.URL.Query().Get("alt") == "media":
		return "read"
	default:
		return "meta"
	}
}

func (e *emulator) inject(f ...fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, f...)
}

func (e *emulator) serve(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	if os.Getenv("UMT_FAKEGCS_DEBUG") != "" {
		println(time.Now().Format("05.000"), kind, r.Method, r.URL.String())
	}
	switch kind {
	case "upload":
		e.uploads.Add(1)
	case "read":
		e.reads.Add(1)
	}
	e.mu.Lock()
	var f *fault
	for i := range e.faults {
		if e.faults[i].kind == kind && (!e.faults[i].chunk || r.URL.Query().Get("upload_id") != "") {
			ff := e.faults[i]
			f = &ff
			if !ff.sticky {
				e.faults = append(e.faults[:i], e.faults[i+1:]...)
			}
			break
		}
	}
	e.mu.Unlock()
	switch {
	case f == nil:
	case f.hang != nil:
		select {
		case <-f.hang:
		case <-r.Context().Done():
		}
		return
	case f.cut && kind == "upload":
		e.cuts.Add(1)
		io.CopyN(io.Discard, r.Body, 64<<10) // part of the body arrives, then the line drops
		cut(w)
		return
	case f.cut:
		e.cuts.Add(1)
		rec := httptest.NewRecorder()
		e.srv.HTTPHandler().ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		cut(w)
		return
	default:
		e.unavailable.Add(1)
		io.Copy(io.Discard, r.Body)
		http.Error(w, `{"error":{"code":503,"message":"injected: backend unavailable"}}`, http.StatusServiceUnavailable)
		return
	}
	e.srv.HTTPHandler().ServeHTTP(w, r)
}

func cut(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err) // test server always supports hijacking
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, like a dropped connection
	}
	conn.Close()
}
