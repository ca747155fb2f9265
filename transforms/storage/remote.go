package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	gcs "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// cacheBlock is the unit of the small-read cache: reads shorter than this (Arrow footers,
// message headers, FFmpeg's 64 KiB custom-I/O reads) are served from whole cached blocks;
// longer reads go straight to the server.
const cacheBlock = 256 << 10

// rangeFunc makes one attempt at reading exactly len(p) bytes at off under ctx's deadline. It
// returns how many bytes it got before failing, so a retry resumes after them.
type rangeFunc func(ctx context.Context, p []byte, off int64) (int, error)

// rangeReader is the Reader of a remote object (a GCS object, an HTTP resource served with
// Range): each range read has its own deadline (Options.OpTimeout) and is retried with
// back-off on transient errors, resuming where the cut attempt stopped; small reads go through
// an LRU block cache.
type rangeReader struct {
	uri   string
	size  int64
	o     Options
	ctx   context.Context // carries values, not cancellation: each read has its own deadline
	fetch rangeFunc

	mu        sync.Mutex
	blocks    map[int64][]byte
	order     []int64 // LRU order, oldest first
	maxBlocks int
}

func newRangeReader(ctx context.Context, uri string, size int64, o Options, fetch rangeFunc) *rangeReader {
	return &rangeReader{uri: uri, size: size, o: o, ctx: context.WithoutCancel(ctx), fetch: fetch,
		blocks: map[int64][]byte{}, maxBlocks: int(max(1, o.ReadCacheSize/cacheBlock))}
}

func (r *rangeReader) Size() int64  { return r.size }
func (r *rangeReader) Close() error { return nil }

// ReadAt reads len(p) bytes at off (io.EOF with the bytes there are when p runs past the end).
func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", r.uri, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := len(p)
	short := false
	if off+int64(want) > r.size {
		want, short = int(r.size-off), true
	}
	var n int
	var err error
	if want < cacheBlock {
		n, err = r.readCached(p[:want], off)
	} else {
		n, err = r.readRange(p[:want], off)
	}
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

func (r *rangeReader) readCached(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		b := (off + int64(n)) / cacheBlock
		blk, err := r.block(b)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], blk[off+int64(n)-b*cacheBlock:])
	}
	return n, nil
}

func (r *rangeReader) block(b int64) ([]byte, error) {
	r.mu.Lock()
	if blk, ok := r.blocks[b]; ok {
		r.mu.Unlock()
		return blk, nil
	}
	r.mu.Unlock()
	start := b * cacheBlock
	blk := make([]byte, min(cacheBlock, r.size-start))
	if _, err := r.readRange(blk, start); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blocks[b]; !ok {
		r.blocks[b] = blk
		r.order = append(r.order, b)
		for len(r.order) > r.maxBlocks {
			delete(r.blocks, r.order[0])
			r.order = r.order[1:]
		}
	}
	return blk, nil
}

func (r *rangeReader) readRange(p []byte, off int64) (int, error) {
	n := 0
	err := r.o.retry(r.ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, r.o.OpTimeout)
		defer cancel()
		got, err := r.fetch(ctx, p[n:], off+int64(n))
		n += got
		return err
	})
	if err != nil {
		return n, classify(err, fmt.Sprintf("read %s at %d", r.uri, off+int64(n)))
	}
	return n, nil
}

// retry runs attempt up to MaxAttempts times with exponential back-off while it fails with a
// transient error; it returns the last error.
func (o Options) retry(ctx context.Context, attempt func(ctx context.Context) error) error {
	var last error
	for i := 1; i <= o.MaxAttempts; i++ {
		if i > 1 {
			if err := sleepCtx(ctx, o.backoff(i-1)); err != nil {
				return fmt.Errorf("%w (last error: %v)", err, last)
			}
		}
		last = attempt(ctx)
		if last == nil || ctx.Err() != nil || !retryable(last) {
			return last
		}
	}
	return last
}

// statusError is an HTTP answer that is not what the request asked for.
type statusError struct {
	code   int
	status string
	hint   string
}

func (e *statusError) Error() string {
	if e.hint != "" {
		return "HTTP " + e.status + "; " + e.hint
	}
	return "HTTP " + e.status
}

func statusCode(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// retryable reports transient failures worth another attempt: deadlines, cut connections,
// refused connections, HTTP 408, 429 and 5xx.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	if c := statusCode(err); c != 0 {
		return c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500
	}
	// Socket errors (refused, reset, unreachable) and failed name lookups may pass.
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) {
		return true
	}
	return gcs.ShouldRetry(err)
}

// classify wraps err with the class a caller acts on: ErrNotExist for a definite absence
// (404, 410, no such object), ErrDenied for other refusals (401, 403, other 4xx), ErrUnavailable
// for what may pass (deadlines, cut or refused connections, 408, 429, 5xx). Cancellation and
// errors already classified are returned as they are, with what prefixed.
func classify(err error, what string) error {
	code := statusCode(err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotExist), errors.Is(err, ErrDenied), errors.Is(err, ErrUnavailable),
		errors.Is(err, ErrTooLarge), errors.Is(err, ErrInvalidURI), errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, gcs.ErrObjectNotExist), errors.Is(err, gcs.ErrBucketNotExist),
		code == http.StatusNotFound, code == http.StatusGone:
		return fmt.Errorf("%s: %w: %v", what, ErrNotExist, err)
	case retryable(err):
		return fmt.Errorf("%s: %w: %v", what, ErrUnavailable, err)
	case code >= 400 && code < 500:
		return fmt.Errorf("%s: %w: %v", what, ErrDenied, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
