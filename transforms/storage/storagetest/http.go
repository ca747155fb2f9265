package storagetest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// HTTPServer is a real web server over a set of files, answering GET (and HEAD) requests the
// way a chosen kind of server does: with Range support (206 answers, as object stores and
// nginx give), or ignoring Range (200 with the whole body, as Python's http.server does), with
// or without Content-Length. Faults armed with Inject (Kind "read") fire on the next requests:
// an error status (503 unless Fault.Status says otherwise), a connection cut after half the
// body, or a hang until the Hang channel closes or the client gives up.
type HTTPServer struct {
	URL string // base URL, no trailing slash

	Ranges  bool // honour Range requests
	Chunked bool // send no Content-Length (chunked transfer encoding)

	mu     sync.Mutex
	files  map[string][]byte
	etags  map[string]string
	faults []Fault

	Requests, RangeRequests, Cuts, Unavailable atomic.Int64
}

// NewHTTPServer serves files (by URL path, e.g. "/v/a.mp4") until the test ends.
func NewHTTPServer(t testing.TB, ranges bool, files map[string][]byte) *HTTPServer {
	t.Helper()
	s := &HTTPServer{Ranges: ranges, files: map[string][]byte{}, etags: map[string]string{}}
	for p, b := range files {
		s.Put(p, b)
	}
	srv := httptest.NewServer(s)
	s.URL = srv.URL
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return s
}

// Put adds or replaces a file; a replaced file gets a new ETag.
func (s *HTTPServer) Put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
	s.etags[path] = fmt.Sprintf(`"v%d-%d"`, len(s.etags)+1, len(data))
}

// Inject arms faults; each fires once on the next request (unless Sticky).
func (s *HTTPServer) Inject(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Clear disarms every fault.
func (s *HTTPServer) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *HTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Requests.Add(1)
	f := takeFault(&s.mu, &s.faults, "read", false)
	switch {
	case f == nil || f.Cut:
	case f.Hang != nil:
		select {
		case <-f.Hang:
		case <-r.Context().Done():
		}
		return
	default:
		code := f.Status
		if code == 0 {
			code = http.StatusServiceUnavailable
			s.Unavailable.Add(1)
		}
		http.Error(w, "injected: "+http.StatusText(code), code)
		return
	}
	s.mu.Lock()
	body, ok := s.files[r.URL.Path]
	etag := s.etags[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		if f != nil && f.Cut { // the connection drops before the answer
			s.Cuts.Add(1)
			cut(w)
			return
		}
		http.NotFound(w, r)
		return
	}
	code := http.StatusOK
	if rng := r.Header.Get("Range"); s.Ranges && rng != "" && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == etag) {
		s.RangeRequests.Add(1)
		start, end, ok := parseRange(rng, int64(len(body)))
		if !ok {
			w.Header().Set("Content-Range", "bytes */"+strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(body)))
		body, code = body[start:end+1], http.StatusPartialContent
	}
	if s.Ranges {
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("ETag", etag)
	}
	if !s.Chunked {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	if f != nil && f.Cut {
		s.Cuts.Add(1)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		cut(w)
		return
	}
	w.Write(body)
}

// parseRange reads "bytes=A-B", "bytes=A-" or "bytes=-N" against size.
func parseRange(h string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	a, b, found2 := strings.Cut(spec, "-")
	if !found || !found2 || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	var err error
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		start, end = max(0, size-n), size-1
	default:
		if start, err = strconv.ParseInt(a, 10, 64); err != nil {
			return 0, 0, false
		}
		end = size - 1
		if b != "" {
			if end, err = strconv.ParseInt(b, 10, 64); err != nil {
				return 0, 0, false
			}
		}
	}
	if start >= size || end < start {
		return 0, 0, false
	}
	return start, min(end, size-1), true
}
