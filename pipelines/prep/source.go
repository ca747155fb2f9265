package prep

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// sources opens videos by URI: local paths directly, gs:// objects and http(s) URLs through
// random-access readers (no temporary copy). It caches one store per bucket.
type sources struct {
	mu     sync.Mutex
	stores map[string]storage.Store
}

// open returns the video source and a function releasing it.
func (s *sources) open(ctx context.Context, uri string) (video.Source, func(), error) {
	lower := strings.ToLower(uri)
	switch {
	case strings.HasPrefix(lower, "gs://"):
		rest := uri[len("gs://"):]
		i := strings.IndexByte(rest, '/')
		if i <= 0 {
			return video.Source{}, nil, fmt.Errorf("%q is not gs://bucket/object", uri)
		}
		st, err := s.store(ctx, "gs://"+rest[:i])
		if err != nil {
			return video.Source{}, nil, err
		}
		r, err := st.Open(ctx, rest[i+1:])
		if err != nil {
			return video.Source{}, nil, fmt.Errorf("%w: %v", video.ErrMissing, err)
		}
		return video.ReaderSource(uri, r, r.Size()), func() { r.Close() }, nil
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		r, err := openHTTP(ctx, uri)
		if err != nil {
			return video.Source{}, nil, err
		}
		return video.ReaderSource(uri, r, r.size), func() {}, nil
	}
	return video.FileSource(uri), func() {}, nil
}

func (s *sources) store(ctx context.Context, root string) (storage.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stores[root]; ok {
		return st, nil
	}
	st, err := storage.Open(ctx, root)
	if err != nil {
		return nil, err
	}
	if s.stores == nil {
		s.stores = map[string]storage.Store{}
	}
	s.stores[root] = st
	return st, nil
}

func (s *sources) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stores {
		st.Close()
	}
	s.stores = nil
}

// httpReader reads an HTTP resource with Range requests.
type httpReader struct {
	ctx  context.Context
	url  string
	size int64
}

func openHTTP(ctx context.Context, url string) (*httpReader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", video.ErrMissing, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, fmt.Errorf("%w: HTTP %s for %s", video.ErrMissing, resp.Status, url)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s for %s", resp.Status, url)
	}
	if resp.ContentLength < 0 {
		return nil, fmt.Errorf("%s does not report its size (Content-Length); serve it with range support", url)
	}
	return &httpReader{ctx: ctx, url: url, size: resp.ContentLength}, nil
}

func (h *httpReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= h.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), h.size) - 1
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(end, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return 0, fmt.Errorf("range request to %s: HTTP %s (the server must support Range)", h.url, resp.Status)
	}
	n, err := io.ReadFull(resp.Body, p[:end-off+1])
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}
