package shard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/internal/mmap"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// OpenOptions configure Open. Zero values take the defaults.
type OpenOptions struct {
	Store        storage.Store    // reuse an open store instead of opening the URI
	Storage      storage.Options  // options of the store Open opens
	CacheBatches int              // decoded record batches kept for Row (default 8)
	Allocator    memory.Allocator // for decompressed buffers (default memory.DefaultAllocator)
}

// Dataset reads a committed dataset: only the shards its index lists, by global row id or in
// sequence. Local shards are memory-mapped and read zero-copy (uncompressed buffers alias the
// map); gs:// shards are read with range requests behind a small cache. Rows returned are
// valid until Close. A Dataset is safe for concurrent use.
type Dataset struct {
	store     storage.Store
	ownsStore bool
	idx       *Index
	ids       []string
	sorted    []int32 // row ids ordered by clip id, for Has and RowOf without a map
	o         OpenOptions

	shards []*shardHandle

	mu    sync.Mutex
	cache map[[2]int]*cachedBatch
	tick  int64
}

type shardHandle struct {
	mu      sync.Mutex
	opened  bool
	err     error
	fr      *arrowFile
	release func() error
	reader  storage.Reader
}

type cachedBatch struct {
	rec   arrow.RecordBatch
	batch *schemas.ClipBatch
	used  int64
}

// Open opens the dataset at datasetURI (a local directory or gs://bucket/prefix) by its index.
// It fails with ErrNoIndex when the dataset has not been committed.
func Open(ctx context.Context, datasetURI string, opts ...OpenOptions) (*Dataset, error) {
	var o OpenOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.CacheBatches <= 0 {
		o.CacheBatches = 8
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	d := &Dataset{store: o.Store, o: o, cache: map[[2]int]*cachedBatch{}}
	if d.store == nil {
		s, err := storage.OpenStore(ctx, datasetURI, o.Storage)
		if err != nil {
			return nil, err
		}
		d.store, d.ownsStore = s, true
	}
	if err := d.load(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Dataset) load(ctx context.Context) error {
	b, err := readAll(ctx, d.store, IndexName, 1<<30)
	if errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("%s: %w (the job writing it has not committed; run it to completion or commit the index)", d.store.URI(), ErrNoIndex)
	}
	if err != nil {
		return err
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, IndexName, err)
	}
	if idx.Format != IndexFormat || idx.Version != IndexVersion {
		return fmt.Errorf("%w: %s is format %q version %d, want %q version %d", schemas.ErrSchema, IndexName, idx.Format, idx.Version, IndexFormat, IndexVersion)
	}
	if idx.SchemaVersion < 1 || idx.SchemaVersion > schemas.ClipSchemaVersion {
		return fmt.Errorf("%w: dataset schema version %d; this umt reads versions 1 to %d (upgrade umt)", schemas.ErrSchema, idx.SchemaVersion, schemas.ClipSchemaVersion)
	}
	if idx.Provenance != nil && idx.Provenance.SchemaVersion != idx.SchemaVersion {
		return fmt.Errorf("%w: %s says schema version %d but its provenance %d", ErrCorrupt, IndexName, idx.SchemaVersion, idx.Provenance.SchemaVersion)
	}
	if len(idx.Shards) > 0 && idx.Provenance == nil {
		return fmt.Errorf("%w: %s has shards but no provenance", ErrCorrupt, IndexName)
	}
	var rows int64
	for i, s := range idx.Shards {
		total := 0
		for _, n := range s.Batches {
			if n <= 0 {
				return fmt.Errorf("%w: %s: shard %s has an empty batch", ErrCorrupt, IndexName, s.Name)
			}
			total += n
		}
		if s.FirstRow != rows || total != s.Rows || !isShard(s.Name) {
			return fmt.Errorf("%w: %s: shard %d (%s) rows do not add up", ErrCorrupt, IndexName, i, s.Name)
		}
		rows += int64(s.Rows)
	}
	if rows != idx.Rows {
		return fmt.Errorf("%w: %s: shards hold %d rows, index says %d", ErrCorrupt, IndexName, rows, idx.Rows)
	}
	d.idx = &idx
	if d.ids, err = readClips(ctx, d.store, &idx); err != nil {
		return err
	}
	d.sorted = make([]int32, len(d.ids))
	for i := range d.sorted {
		d.sorted[i] = int32(i)
	}
	sort.Slice(d.sorted, func(a, b int) bool { return d.ids[d.sorted[a]] < d.ids[d.sorted[b]] })
	d.shards = make([]*shardHandle, len(idx.Shards))
	for i := range d.shards {
		d.shards[i] = &shardHandle{}
	}
	return nil
}

// Len is the number of rows (clips).
func (d *Dataset) Len() int { return int(d.idx.Rows) }

// Index returns the dataset index.
func (d *Dataset) Index() *Index { return d.idx }

// Provenance returns how the dataset was made (zero when it has no shards and none was given).
func (d *Dataset) Provenance() schemas.Provenance {
	if d.idx.Provenance == nil {
		return schemas.Provenance{}
	}
	return *d.idx.Provenance
}

// Has reports whether clipID is committed, so a rerun can skip it.
func (d *Dataset) Has(clipID string) bool { _, ok := d.RowOf(clipID); return ok }

// ClipIDs returns the committed clip ids in row order (a copy).
func (d *Dataset) ClipIDs() []string { return append([]string(nil), d.ids...) }

// RowOf returns the global row id of clipID.
func (d *Dataset) RowOf(clipID string) (int, bool) {
	k := sort.Search(len(d.sorted), func(k int) bool { return d.ids[d.sorted[k]] >= clipID })
	if k < len(d.sorted) && d.ids[d.sorted[k]] == clipID {
		return int(d.sorted[k]), true
	}
	return 0, false
}

// Store returns the store the dataset is read from.
func (d *Dataset) Store() storage.Store { return d.store }

// shard opens shard s on first use: size check, then a memory map (local) or a range reader.
// A failure is remembered, except one caused by the caller's context, which the next call
// retries.
func (d *Dataset) shard(ctx context.Context, s int) (*shardHandle, error) {
	h := d.shards[s]
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.opened {
		err := d.openShard(ctx, s, h)
		if err != nil && ctx.Err() != nil {
			h.close()
			return nil, err
		}
		h.opened, h.err = true, err
	}
	return h, h.err
}

func (h *shardHandle) close() error {
	var errs []error
	if h.fr != nil {
		errs = append(errs, h.fr.Close())
	}
	if h.release != nil {
		errs = append(errs, h.release())
	}
	if h.reader != nil {
		errs = append(errs, h.reader.Close())
	}
	h.fr, h.release, h.reader = nil, nil, nil
	return errors.Join(errs...)
}

func (d *Dataset) openShard(ctx context.Context, s int, h *shardHandle) error {
	e := d.idx.Shards[s]
	info, err := d.store.Stat(ctx, e.Name)
	if err != nil {
		return fmt.Errorf("shard %s listed in the index: %w", e.Name, err)
	}
	if info.Size != e.Bytes {
		return fmt.Errorf("%w: shard %s is %d bytes, the index says %d (truncated or replaced)", ErrCorrupt, e.Name, info.Size, e.Bytes)
	}
	if path, ok := d.store.LocalPath(e.Name); ok {
		data, release, err := mmap.File(path)
		if err != nil {
			return err
		}
		if int64(len(data)) != e.Bytes {
			release()
			return fmt.Errorf("%w: shard %s changed size while opening", ErrCorrupt, e.Name)
		}
		h.release = release
		h.fr, err = openMapped(data, d.o.Allocator)
		if err != nil {
			return fmt.Errorf("shard %s: %w", e.Name, err)
		}
	} else {
		r, err := d.store.Open(ctx, e.Name)
		if err != nil {
			return err
		}
		h.reader = r
		if h.fr, err = openReaderAt(r, e.Bytes, d.o.Allocator); err != nil {
			return fmt.Errorf("shard %s: %w", e.Name, err)
		}
	}
	p, err := schemas.CheckClipSchema(h.fr.Schema())
	if err != nil {
		return fmt.Errorf("shard %s: %w", e.Name, err)
	}
	if !sameProvenance(p, *d.idx.Provenance) {
		return fmt.Errorf("%w: shard %s has a different provenance than the index", ErrCorrupt, e.Name)
	}
	if h.fr.NumRecords() != len(e.Batches) {
		return fmt.Errorf("%w: shard %s has %d record batches, the index says %d", ErrCorrupt, e.Name, h.fr.NumRecords(), len(e.Batches))
	}
	return nil
}

// locate maps a global row id to (shard, batch, row in batch).
func (d *Dataset) locate(i int) (s, b, r int) {
	sh := d.idx.Shards
	s = sort.Search(len(sh), func(k int) bool { return sh[k].FirstRow > int64(i) }) - 1
	local := i - int(sh[s].FirstRow)
	starts := make([]int, 0, len(sh[s].Batches))
	acc := 0
	for _, n := range sh[s].Batches {
		starts = append(starts, acc)
		acc += n
	}
	b = sort.Search(len(starts), func(k int) bool { return starts[k] > local }) - 1
	return s, b, local - starts[b]
}

// loadBatch decodes record batch b of shard s and checks it against the index.
func (d *Dataset) loadBatch(ctx context.Context, s, b int) (arrow.RecordBatch, *schemas.ClipBatch, error) {
	h, err := d.shard(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	name := d.idx.Shards[s].Name
	rec, err := h.fr.RecordBatchAt(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: shard %s batch %d: %v", ErrCorrupt, name, b, err)
	}
	cb, err := schemas.NewClipBatch(*d.idx.Provenance, rec)
	if err != nil {
		rec.Release()
		return nil, nil, fmt.Errorf("%w: shard %s batch %d: %v", ErrCorrupt, name, b, err)
	}
	if cb.Len() != d.idx.Shards[s].Batches[b] {
		rec.Release()
		return nil, nil, fmt.Errorf("%w: shard %s batch %d has %d rows, the index says %d", ErrCorrupt, name, b, cb.Len(), d.idx.Shards[s].Batches[b])
	}
	return rec, cb, nil
}

// cachedBatch returns batch b of shard s from the cache (loading it on a miss) with a
// reference the caller must release: eviction only drops the cache's own reference, so a
// batch in use by another goroutine stays valid.
func (d *Dataset) cachedBatch(ctx context.Context, s, b int) (*schemas.ClipBatch, func(), error) {
	key := [2]int{s, b}
	d.mu.Lock()
	if c, ok := d.cache[key]; ok {
		d.tick++
		c.used = d.tick
		c.rec.Retain()
		d.mu.Unlock()
		return c.batch, c.rec.Release, nil
	}
	d.mu.Unlock()
	rec, cb, err := d.loadBatch(ctx, s, b)
	if err != nil {
		return nil, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.cache[key]; ok { // another goroutine loaded it meanwhile
		rec.Release()
		c.rec.Retain()
		return c.batch, c.rec.Release, nil
	}
	d.tick++
	d.cache[key] = &cachedBatch{rec: rec, batch: cb, used: d.tick}
	rec.Retain() // the caller's reference; the cache holds the one from loadBatch
	for len(d.cache) > d.o.CacheBatches {
		var oldest [2]int
		var t int64 = -1
		for k, c := range d.cache {
			if t < 0 || c.used < t {
				oldest, t = k, c.used
			}
		}
		d.cache[oldest].rec.Release()
		delete(d.cache, oldest)
	}
	return cb, rec.Release, nil
}

// Row returns row i (0 ≤ i < Len). Tensor fields alias the shard's memory; see Dataset.
func (d *Dataset) Row(ctx context.Context, i int) (schemas.ClipRow, error) {
	if i < 0 || i >= d.Len() {
		return schemas.ClipRow{}, fmt.Errorf("row %d out of range [0, %d)", i, d.Len())
	}
	if err := ctx.Err(); err != nil {
		return schemas.ClipRow{}, err
	}
	s, b, r := d.locate(i)
	cb, release, err := d.cachedBatch(ctx, s, b)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	defer release()
	row, err := cb.Row(r)
	if err != nil {
		return row, fmt.Errorf("%w: shard %s row %d: %v", ErrCorrupt, d.idx.Shards[s].Name, i-int(d.idx.Shards[s].FirstRow), err)
	}
	if row.ClipID != d.ids[i] {
		return schemas.ClipRow{}, fmt.Errorf("%w: row %d is clip %s, the index says %s", ErrCorrupt, i, row.ClipID, d.ids[i])
	}
	return row, nil
}

// Scan calls fn for every row in order, decoding each record batch once. It stops at the first
// error from fn or from reading.
func (d *Dataset) Scan(ctx context.Context, fn func(i int, row schemas.ClipRow) error) error {
	for s, e := range d.idx.Shards {
		for b := range e.Batches {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, cb, err := d.loadBatch(ctx, s, b)
			if err != nil {
				return err
			}
			err = func() error {
				defer rec.Release()
				first := int(e.FirstRow)
				for k := 0; k < b; k++ {
					first += e.Batches[k]
				}
				for r := 0; r < cb.Len(); r++ {
					row, err := cb.Row(r)
					if err != nil {
						return fmt.Errorf("%w: shard %s: %v", ErrCorrupt, e.Name, err)
					}
					if row.ClipID != d.ids[first+r] {
						return fmt.Errorf("%w: row %d is clip %s, the index says %s", ErrCorrupt, first+r, row.ClipID, d.ids[first+r])
					}
					if err := fn(first+r, row); err != nil {
						return err
					}
				}
				return nil
			}()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Failures returns every row of the dataset's failures files.
func (d *Dataset) Failures(ctx context.Context) ([]schemas.FailureRow, error) {
	var out []schemas.FailureRow
	for _, f := range d.idx.Failures {
		b, err := readAll(ctx, d.store, f.Name, 1<<30)
		if err != nil {
			return nil, err
		}
		if hashBytes(b) != f.SHA256 {
			return nil, fmt.Errorf("%w: %s does not match its checksum in the index", ErrCorrupt, f.Name)
		}
		rows, err := failuresFromBytes(b, d.o.Allocator)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		out = append(out, rows...)
	}
	return out, nil
}

// Verify checks every shard and failures file against the index: size, sha256, schema and
// provenance, every record batch and row, and the clip ids. It reports every problem found.
func (d *Dataset) Verify(ctx context.Context) error {
	var errs []error
	for s, e := range d.idx.Shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.verifyShard(ctx, s, e); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := d.Failures(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (d *Dataset) verifyShard(ctx context.Context, s int, e ShardEntry) error {
	info, err := d.store.Stat(ctx, e.Name)
	if err != nil {
		return fmt.Errorf("shard %s: %w", e.Name, err)
	}
	sc, err := readShardFully(ctx, d.store, info)
	if err != nil {
		return err
	}
	switch {
	case sc.SHA256 != e.SHA256:
		return fmt.Errorf("%w: shard %s sha256 %s, the index says %s", ErrCorrupt, e.Name, sc.SHA256, e.SHA256)
	case !sameProvenance(sc.Provenance, *d.idx.Provenance):
		return fmt.Errorf("%w: shard %s has a different provenance than the index", ErrCorrupt, e.Name)
	case !slices.Equal(sc.ClipIDs, d.ids[e.FirstRow:e.FirstRow+int64(e.Rows)]):
		return fmt.Errorf("%w: shard %s clip ids differ from the index", ErrCorrupt, e.Name)
	case !slices.Equal(sc.Batches, e.Batches):
		return fmt.Errorf("%w: shard %s batches %v, the index says %v", ErrCorrupt, e.Name, sc.Batches, e.Batches)
	}
	return nil
}

// Close releases every shard (unmapping local files) and the store if Open opened it.
func (d *Dataset) Close() error {
	d.mu.Lock()
	for k, c := range d.cache {
		c.rec.Release()
		delete(d.cache, k)
	}
	d.mu.Unlock()
	var errs []error
	for _, h := range d.shards {
		h.mu.Lock()
		errs = append(errs, h.close())
		h.mu.Unlock()
	}
	if d.ownsStore && d.store != nil {
		errs = append(errs, d.store.Close())
	}
	return errors.Join(errs...)
}
