// Package storagetest runs fake-gcs-server in-process behind a real HTTP handler that can
// inject faults (503 answers, connections cut mid-body, hangs), and points the GCS client at
// it through STORAGE_EMULATOR_HOST, so code under test uses the production client path. Its
// HTTPServer is a plain web server with the same faults, with or without Range support.
package storagetest

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

// Emulator is fake-gcs-server served in-process behind a real HTTP handler that can inject
// faults: 503 answers and connections cut in the middle of a request body. The GCS client
// under test talks real HTTP to it through STORAGE_EMULATOR_HOST, as in production.
type Emulator struct {
	Srv  *fakestorage.Server
	http *httptest.Server

	mu     sync.Mutex
	faults []Fault

	Uploads, Reads, Cuts, Unavailable atomic.Int64
}

// Fault applies to the next request whose kind matches ("upload", "read", "meta").
type Fault struct {
	Kind   string
	Cut    bool          // cut the connection after reading part of the body (uploads) or sending part of it (reads)
	Hang   chan struct{} // block until closed (deadline tests)
	Sticky bool          // stays armed for every later request until cleared
	Chunk  bool          // only a resumable upload's data request (upload_id set), not its start
	Status int           // the HTTP status to answer instead of 503 (HTTPServer only)
}

// NewEmulator starts the emulator with one bucket and sets STORAGE_EMULATOR_HOST for the test.
func NewEmulator(t testing.TB, bucket string) *Emulator {
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
	e := &Emulator{Srv: srv}
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

// Inject arms faults; each fires once on the next matching request (unless Sticky).
func (e *Emulator) Inject(f ...Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, f...)
}

// Clear disarms every fault.
func (e *Emulator) Clear() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = nil
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	kind := kindOf(r)
	if os.Getenv("UMT_FAKEGCS_DEBUG") != "" {
		println(time.Now().Format("05.000"), kind, r.Method, r.URL.String())
	}
	switch kind {
	case "upload":
		e.Uploads.Add(1)
	case "read":
		e.Reads.Add(1)
	}
	f := takeFault(&e.mu, &e.faults, kind, r.URL.Query().Get("upload_id") != "")
	switch {
	case f == nil:
	case f.Hang != nil:
		select {
		case <-f.Hang:
		case <-r.Context().Done():
		}
		return
	case f.Cut && kind == "upload":
		e.Cuts.Add(1)
		io.CopyN(io.Discard, r.Body, 64<<10) // part of the body arrives, then the line drops
		cut(w)
		return
	case f.Cut:
		e.Cuts.Add(1)
		rec := httptest.NewRecorder()
		e.Srv.HTTPHandler().ServeHTTP(rec, r)
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
		e.Unavailable.Add(1)
		io.Copy(io.Discard, r.Body)
		http.Error(w, `{"error":{"code":503,"message":"injected: backend unavailable"}}`, http.StatusServiceUnavailable)
		return
	}
	e.Srv.HTTPHandler().ServeHTTP(w, r)
}

// takeFault returns the first armed fault of kind (disarming it unless Sticky), or nil.
func takeFault(mu *sync.Mutex, faults *[]Fault, kind string, chunk bool) *Fault {
	mu.Lock()
	defer mu.Unlock()
	for i, f := range *faults {
		if f.Kind == kind && (!f.Chunk || chunk) {
			if !f.Sticky {
				*faults = append((*faults)[:i], (*faults)[i+1:]...)
			}
			return &f
		}
	}
	return nil
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
