package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/internal/mmap"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// Compression codecs of shard buffers.
const (
	CompressLZ4  = "lz4"  // default: fast; frames shrink several-fold, features stay raw
	CompressZstd = "zstd" // smaller frames, slower to write and read
	CompressNone = "none" // every buffer raw (readable by Arrow readers without codecs)
)

// WriterOptions configure a Writer. Key is required; the rest have defaults.
type WriterOptions struct {
	// Key names this writer's shards (shard-<key>-<n>.arrow). Derive it from the writer's
	// input, so a retried bundle writes the same names and its commits are no-ops.
	Key string
	// TargetBytes rolls to a new shard once the current one reaches it (default 512 MiB).
	TargetBytes int64
	// BatchRows is the number of clips per Arrow record batch (default 4).
	BatchRows int
	// Compression is CompressLZ4 (default), CompressZstd or CompressNone.
	Compression string
	// MinSpaceSavings leaves a buffer uncompressed unless compression saves at least this
	// fraction (default 0.1): float16 features barely compress and stay zero-copy.
	MinSpaceSavings float64
	// Allocator for Arrow buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
}

// ShardInfo describes one committed shard.
type ShardInfo struct {
	Name    string   `json:"name"`
	Rows    int      `json:"rows"`
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"`
	Batches []int    `json:"batches"` // rows per record batch
	ClipIDs []string `json:"-"`
	// Existing is true when an earlier attempt had already committed identical bytes.
	Existing bool `json:"-"`
}

// sidecar is stored beside each shard (shard-….arrow.json) so the index can be built without
// reading shards.
type sidecar struct {
	ShardInfo
	CRC32C     uint32             `json:"crc32c,omitempty"`
	Provenance schemas.Provenance `json:"provenance"`
	ClipIDs    []string           `json:"clip_ids"`
}

// Writer writes clip rows into Arrow IPC shards and commits each exactly once. It is not safe
// for concurrent use; run one Writer per bundle or worker with its own key.
type Writer struct {
	store storage.Store
	p     schemas.Provenance
	o     WriterOptions
	ipc   []ipc.Option

	n       int // index of the current shard
	cur     storage.Writer
	counter *countingWriter
	fw      *ipc.FileWriter
	ids     []string // clip ids in the current shard
	pending []schemas.ClipRow
	seen    map[string]bool
	done    []ShardInfo
	closed  bool
}

// testHookBeforePublish, when set by tests, runs after a shard is verified and before it is
// published (to simulate a crash in between).
var testHookBeforePublish func(name string)

// NewWriter returns a writer of shards with provenance p into store (the dataset root).
func NewWriter(store storage.Store, p schemas.Provenance, o WriterOptions) (*Writer, error) {
	if err := checkKey(o.Key); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.SchemaVersion = schemas.ClipSchemaVersion
	if o.TargetBytes <= 0 {
		o.TargetBytes = 512 << 20
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 4
	}
	if o.MinSpaceSavings == 0 {
		o.MinSpaceSavings = 0.1
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	opts := []ipc.Option{ipc.WithSchema(schemas.ClipSchema(p)), ipc.WithAllocator(o.Allocator)}
	switch o.Compression {
	case "", CompressLZ4:
		o.Compression = CompressLZ4
		opts = append(opts, ipc.WithLZ4(), ipc.WithMinSpaceSavings(o.MinSpaceSavings))
	case CompressZstd:
		opts = append(opts, ipc.WithZstd(), ipc.WithMinSpaceSavings(o.MinSpaceSavings))
	case CompressNone:
	default:
		return nil, fmt.Errorf("compression %q: want lz4, zstd or none", o.Compression)
	}
	return &Writer{store: store, p: p, o: o, ipc: opts, seen: map[string]bool{}}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Write adds a row. The row is validated now; its slices are read when its batch is encoded
// (every BatchRows rows, and at Close), so do not modify them until then.
func (w *Writer) Write(ctx context.Context, row schemas.ClipRow) error {
	if w.closed {
		return errors.New("shard: Write after Close or Abort")
	}
	if err := row.Validate(w.p); err != nil {
		return err
	}
	if w.seen[row.ClipID] {
		return fmt.Errorf("%w: clip %s written twice by writer %s", schemas.ErrRow, row.ClipID, w.o.Key)
	}
	w.seen[row.ClipID] = true
	w.pending = append(w.pending, row)
	if len(w.pending) >= w.o.BatchRows {
		return w.flush(ctx)
	}
	return nil
}

// flush encodes the pending rows as one record batch and rolls the shard when it is full.
func (w *Writer) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	if w.cur == nil {
		sw, err := w.store.Create(ctx, ShardName(w.o.Key, w.n), storage.CreateOptions{IfNotExists: true})
		if err != nil {
			return err
		}
		w.cur = sw
		w.counter = &countingWriter{w: sw}
		fw, err := ipc.NewFileWriter(w.counter, w.ipc...)
		if err != nil {
			return err
		}
		w.fw = fw
	}
	rec, err := schemas.NewClipRecord(w.o.Allocator, w.p, w.pending)
	if err != nil {
		return err
	}
	err = w.fw.Write(rec)
	rec.Release()
	if err != nil {
		return fmt.Errorf("write %s: %w", ShardName(w.o.Key, w.n), err)
	}
	for i := range w.pending {
		w.ids = append(w.ids, w.pending[i].ClipID)
	}
	clear(w.pending)
	w.pending = w.pending[:0]
	if w.counter.n >= w.o.TargetBytes {
		return w.finish(ctx)
	}
	return nil
}

// finish closes the current shard, verifies the staged bytes and publishes them.
func (w *Writer) finish(ctx context.Context) error {
	if w.cur == nil {
		return nil
	}
	name := ShardName(w.o.Key, w.n)
	cur, fw, ids := w.cur, w.fw, w.ids
	w.cur, w.fw, w.ids = nil, nil, nil
	w.n++
	if err := fw.Close(); err != nil {
		cur.Abort()
		return fmt.Errorf("write %s: %w", name, err)
	}
	info, err := w.verifyAndPublish(ctx, cur, name, ids)
	if err != nil {
		cur.Abort()
		return err
	}
	w.done = append(w.done, info)
	return nil
}

func (w *Writer) verifyAndPublish(ctx context.Context, cur storage.Writer, name string, ids []string) (ShardInfo, error) {
	data, release, err := mmap.File(cur.StagedPath())
	if err != nil {
		return ShardInfo{}, err
	}
	sum, err := summarizeBytes(data, w.o.Allocator)
	sha := hashBytes(data)
	size := int64(len(data))
	release()
	if err != nil {
		return ShardInfo{}, fmt.Errorf("verify %s before publishing: %w", name, err)
	}
	if sum.Rows != len(ids) || !slices.Equal(sum.ClipIDs, ids) {
		return ShardInfo{}, fmt.Errorf("%w: verify %s: read back %d rows, wrote %d", ErrCorrupt, name, sum.Rows, len(ids))
	}
	info := ShardInfo{Name: name, Rows: sum.Rows, Bytes: size, SHA256: sha, Batches: sum.Batches, ClipIDs: ids}
	if testHookBeforePublish != nil {
		testHookBeforePublish(name)
	}
	if err := cur.Commit(ctx); err != nil {
		if !errors.Is(err, storage.ErrExists) {
			return ShardInfo{}, fmt.Errorf("publish %s: %w", name, err)
		}
		return ShardInfo{}, fmt.Errorf("publish %s: another attempt committed different bytes under this name; writer keys must be derived from the writer's input and rows written in the same order: %w", name, err)
	}
	// The sidecar is an accelerator for the index: if it is lost, the index reads the shard.
	if err := w.writeSidecar(ctx, info); err != nil {
		return ShardInfo{}, err
	}
	return info, nil
}

func (w *Writer) writeSidecar(ctx context.Context, info ShardInfo) error {
	sc := sidecar{ShardInfo: info, Provenance: w.p, ClipIDs: info.ClipIDs}
	if st, err := w.store.Stat(ctx, info.Name); err == nil {
		sc.CRC32C = st.CRC32C
	}
	return putJSON(ctx, w.store, info.Name+sidecarSuffix, sc)
}

func putJSON(ctx context.Context, store storage.Store, name string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return storage.Put(ctx, store, name, append(b, '\n'), storage.CreateOptions{ContentType: "application/json"})
}

// Close flushes the remaining rows, commits the last shard and returns every shard this
// writer committed, in order. A writer that got no rows commits nothing.
func (w *Writer) Close(ctx context.Context) ([]ShardInfo, error) {
	if w.closed {
		return w.done, nil
	}
	if err := w.flush(ctx); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.finish(ctx); err != nil {
		w.Abort()
		return nil, err
	}
	w.closed = true
	return w.done, nil
}

// Abort drops the shard in progress. Shards already committed stay committed.
func (w *Writer) Abort() error {
	w.closed = true
	w.pending = nil
	if w.cur != nil {
		if w.fw != nil {
			w.fw.Close()
		}
		err := w.cur.Abort()
		w.cur, w.fw = nil, nil
		return err
	}
	return nil
}
