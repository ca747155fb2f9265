package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// httpClient carries every http(s) request; deadlines come from each call's context.
var httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

// errStalled cancels a request that made no progress for Options.OpTimeout.
var errStalled = errors.New("no data")

// openHTTP opens an http(s) resource. The first request asks for the first cache block with a
// Range header: a 206 answer gives the size and range reads follow; a 200 answer means the
// server ignores Range, and its body is read once into an unlinked temporary file (at most
// Options.MaxDownload bytes) that serves the reads. Each attempt is retried on transient errors.
func openHTTP(ctx context.Context, uri string, o Options) (Reader, error) {
	if _, err := url.Parse(uri); err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidURI, uri, err)
	}
	var r Reader
	err := o.retry(ctx, func(ctx context.Context) error {
		var err error
		r, err = openHTTPOnce(ctx, uri, o)
		return err
	})
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && !retryable(err) && statusCode(err) == 0 && !errors.Is(err, context.Canceled) {
			// A transport failure no retry cures (a TLS certificate the host cannot prove, ...).
			err = fmt.Errorf("%w: %v", ErrDenied, err)
		}
		return nil, classify(err, "open "+uri)
	}
	return r, nil
}

func openHTTPOnce(ctx context.Context, uri string, o Options) (Reader, error) {
	// The whole attempt may last DownloadTimeout, but every wait for an answer or for more of
	// the body is cut after OpTimeout without progress.
	ctx, cancel := context.WithTimeoutCause(ctx, o.DownloadTimeout, fmt.Errorf("whole download over %v: %w", o.DownloadTimeout, context.DeadlineExceeded))
	defer cancel()
	sctx, stall := context.WithCancelCause(ctx)
	defer stall(nil)
	watchdog := time.AfterFunc(o.OpTimeout, func() {
		stall(fmt.Errorf("%w for %v: %w", errStalled, o.OpTimeout, context.DeadlineExceeded))
	})
	defer watchdog.Stop()
	stalled := func(err error) error {
		if c := context.Cause(sctx); c != nil && sctx.Err() != nil && err != nil {
			return fmt.Errorf("%w (%v)", c, err)
		}
		return err
	}

	req, err := http.NewRequestWithContext(sctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidURI, uri, err)
	}
	req.Header.Set("Range", "bytes=0-"+strconv.Itoa(cacheBlock-1))
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, stalled(err)
	}
	defer resp.Body.Close()
	body := &progress{r: resp.Body, t: watchdog, d: o.OpTimeout}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, size, err := contentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != 0 || end >= size {
			return nil, fmt.Errorf("%w: GET %s: bad Content-Range %q in a 206 answer", ErrUnavailable, uri, resp.Header.Get("Content-Range"))
		}
		first := make([]byte, end+1)
		if _, err := io.ReadFull(body, first); err != nil {
			return nil, stalled(eofIsUnexpected(err))
		}
		r := newRangeReader(ctx, uri, size, o, httpRange(uri, strongETag(resp.Header.Get("ETag"))))
		if len(first) == int(min(cacheBlock, size)) {
			r.blocks[0], r.order = first, []int64{0}
		}
		return r, nil
	case http.StatusRequestedRangeNotSatisfiable:
		// Only an empty resource has no byte 0.
		if _, _, size, err := contentRange(resp.Header.Get("Content-Range")); err == nil && size == 0 {
			return newRangeReader(ctx, uri, 0, o, httpRange(uri, "")), nil
		}
		return nil, &statusError{code: resp.StatusCode, status: resp.Status}
	case http.StatusOK:
		f, err := download(uri, body, resp.ContentLength, o)
		return f, stalled(err)
	}
	hint := ""
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		hint = "check the URL and that it is public (or signed)"
	}
	return nil, &statusError{code: resp.StatusCode, status: resp.Status, hint: hint}
}

// download copies the body of a server that ignores Range into an unlinked temporary file.
func download(uri string, body io.Reader, length int64, o Options) (Reader, error) {
	tooLarge := func(n string) error {
		return fmt.Errorf("%w: %s ignores Range requests, so it is read whole, and its body is %s bytes, over the %d-byte download cap; serve it from a server that supports Range (or raise storage.Options.MaxDownload)", ErrTooLarge, uri, n, o.MaxDownload)
	}
	if length > o.MaxDownload {
		return nil, tooLarge(strconv.FormatInt(length, 10))
	}
	f, err := os.CreateTemp(o.TempDir, stagingPrefix+"download-*")
	if err != nil {
		return nil, fmt.Errorf("temporary copy of %s: %w (set storage.Options.TempDir or TMPDIR to a writable directory)", uri, err)
	}
	os.Remove(f.Name()) // the open file lives until Close; a crash leaves nothing behind
	n, err := io.Copy(f, io.LimitReader(body, o.MaxDownload+1))
	switch {
	case err != nil:
		err = eofIsUnexpected(err)
	case n > o.MaxDownload:
		err = tooLarge("more than " + strconv.FormatInt(o.MaxDownload, 10))
	case length >= 0 && n != length:
		err = fmt.Errorf("body of %d bytes, %d announced: %w", n, length, io.ErrUnexpectedEOF)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return localFile{f, n}, nil
}

// httpRange reads ranges with GET and a Range header; with etag set, If-Range makes a changed
// resource answer 200 instead of mixing bytes of two versions.
func httpRange(uri, etag string) rangeFunc {
	return func(ctx context.Context, p []byte, off int64) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+int64(len(p))-1, 10))
		if etag != "" {
			req.Header.Set("If-Range", etag)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusPartialContent:
		case http.StatusOK:
			return 0, fmt.Errorf("%w: range request answered with the whole resource: it changed while it was read, or the server stopped honouring Range", ErrUnavailable)
		default:
			return 0, &statusError{code: resp.StatusCode, status: resp.Status}
		}
		if start, _, _, err := contentRange(resp.Header.Get("Content-Range")); err != nil || start != off {
			return 0, fmt.Errorf("%w: asked for bytes from %d, got Content-Range %q", ErrUnavailable, off, resp.Header.Get("Content-Range"))
		}
		n, err := io.ReadFull(resp.Body, p)
		return n, eofIsUnexpected(err)
	}
}

// contentRange parses "bytes START-END/SIZE" or "bytes */SIZE" (START = END = -1).
func contentRange(h string) (start, end, size int64, err error) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	rng, total, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return 0, 0, 0, fmt.Errorf("bad Content-Range %q", h)
	}
	if size, err = strconv.ParseInt(total, 10, 64); err != nil || size < 0 {
		return 0, 0, 0, fmt.Errorf("bad Content-Range %q (unknown size)", h)
	}
	if rng == "*" {
		return -1, -1, size, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, 0, fmt.Errorf("bad Content-Range %q", h)
	}
	return start, end, size, nil
}

// strongETag returns etag if it is strong (If-Range accepts only strong validators).
func strongETag(etag string) string {
	if strings.HasPrefix(etag, `"`) {
		return etag
	}
	return ""
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// progress pushes a watchdog back on every read that returns data.
type progress struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.t.Reset(p.d)
	}
	return n, err
}
