package storage

import (
	"context"
	"fmt"
	"io"
	"sync"

	gcs "cloud.google.com/go/storage"
)

// cacheBlock is the unit of the small-read cache: reads shorter than this (Arrow footers,
// message headers) are served from whole cached blocks; longer reads go straight to GCS.
const cacheBlock = 256 << 10

func (s *gcsStore) Open(ctx context.Context, name string) (Reader, error) {
	info, err := s.Stat(ctx, name)
	if err != nil {
		return nil, err
	}
	obj, _ := s.object(name)
	// Pin the generation: every range read sees the object that Stat saw.
	obj = obj.Generation(info.generation)
	return &gcsReader{s: s, obj: obj, name: name, size: info.Size, ctx: context.WithoutCancel(ctx),
		blocks: map[int64][]byte{}, maxBlocks: int(max(1, s.o.ReadCacheSize/cacheBlock))}, nil
}

type gcsReader struct {
	s    *gcsStore
	obj  *gcs.ObjectHandle
	name string
	size int64
	ctx  context.Context // carries values, not cancellation: each read has its own deadline

	mu        sync.Mutex
	blocks    map[int64][]byte
	order     []int64 // LRU order, oldest first
	maxBlocks int
}

func (r *gcsReader) Size() int64  { return r.size }
func (r *gcsReader) Close() error { return nil }

// ReadAt reads len(p) bytes at off with a deadline per attempt and retries on transient errors
// (including a connection cut mid-body), resuming where the previous attempt stopped.
func (r *gcsReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", r.name, off)
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

func (r *gcsReader) readCached(p []byte, off int64) (int, error) {
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

func (r *gcsReader) block(b int64) ([]byte, error) {
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

func (r *gcsReader) readRange(p []byte, off int64) (int, error) {
	n := 0
	var last error
	for attempt := 1; attempt <= r.s.o.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleepCtx(r.ctx, r.s.o.backoff(attempt-1)); err != nil {
				return n, err
			}
		}
		got, err := r.rangeOnce(p[n:], off+int64(n))
		n += got
		if err == nil {
			return n, nil
		}
		last = err
		if !retryable(err) {
			break
		}
	}
	return n, gcsErr(last, fmt.Sprintf("read %s%s at %d", r.s.uri, r.name, off+int64(n)))
}

func (r *gcsReader) rangeOnce(p []byte, off int64) (int, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.s.o.OpTimeout)
	defer cancel()
	rr, err := r.obj.NewRangeReader(ctx, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rr.Close()
	n, err := io.ReadFull(rr, p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
