package shard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/umt-dev/umt/internal/mmap"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// IndexFormat names the index file format; IndexVersion is its version.
const (
	IndexFormat  = "umt.dataset"
	IndexVersion = 1
)

// ErrDuplicateClip means two committed shards hold the same clip id. Usually a retried bundle
// wrote under a different writer key: commit the index with IndexOptions.Shards set to the
// shards the successful attempts returned.
var ErrDuplicateClip = errors.New("clip committed twice")

// Index is the dataset index (index.json at the dataset root): what a reader may read.
// It carries no timestamps, so committing the same shards again gives identical bytes.
type Index struct {
	Format        string              `json:"format"`
	Version       int                 `json:"version"`
	SchemaVersion int                 `json:"schema_version"`
	Provenance    *schemas.Provenance `json:"provenance"`
	Rows          int64               `json:"rows"`
	FailureRows   int64               `json:"failure_rows"`
	Bytes         int64               `json:"bytes"` // shards + failures files + clip-id file
	Shards        []ShardEntry        `json:"shards"`
	Failures      []FileInfo          `json:"failures"`
	Clips         FileInfo            `json:"clips"` // index-clips-….arrow: clip ids in row order
}

// ShardEntry is one shard in the index.
type ShardEntry struct {
	ShardInfo
	FirstRow int64 `json:"first_row"` // global id of its first row
}

// IndexOptions configure CommitIndex.
type IndexOptions struct {
	// Shards, when set, are the only shards committed to the index (the names Writer.Close
	// returned in the attempts that succeeded); otherwise every committed shard is.
	Shards []string
	// Failures, when set, are the only failures files indexed; otherwise all are.
	Failures []string
	// Provenance is required when there are no shards; otherwise it must match theirs.
	Provenance *schemas.Provenance
	// Verify reads and checks every shard in full instead of trusting its sidecar.
	Verify bool
	// Store reuses an open store; otherwise the dataset URI is opened with Storage.
	Store   storage.Store
	Storage storage.Options
}

// CommitIndex lists the committed shards and failures files of the dataset at datasetURI and
// writes its index atomically at the root (IndexName), after writing the clip-id file it
// points to. Re-running it over the same objects writes the same bytes.
func CommitIndex(ctx context.Context, datasetURI string, o IndexOptions) (*Index, error) {
	store := o.Store
	if store == nil {
		s, err := storage.OpenStore(ctx, datasetURI, o.Storage)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		store = s
	}
	objs, err := store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	sizes := map[string]storage.ObjectInfo{}
	var shards, failures []string
	for _, ob := range objs {
		sizes[ob.Name] = ob
		switch {
		case isShard(ob.Name) && o.Shards == nil:
			shards = append(shards, ob.Name)
		case isFailures(ob.Name) && o.Failures == nil:
			failures = append(failures, ob.Name)
		}
	}
	pick := func(want []string, what string) ([]string, error) {
		for _, n := range want {
			if _, ok := sizes[n]; !ok {
				return nil, fmt.Errorf("%s %s is not committed in %s: %w", what, n, store.URI(), storage.ErrNotExist)
			}
		}
		out := append([]string(nil), want...)
		sort.Strings(out)
		return out, nil
	}
	if o.Shards != nil {
		if shards, err = pick(o.Shards, "shard"); err != nil {
			return nil, err
		}
	}
	if o.Failures != nil {
		if failures, err = pick(o.Failures, "failures file"); err != nil {
			return nil, err
		}
	}

	infos := make([]sidecar, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, name := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			infos[i], errs[i] = shardDescription(ctx, store, sizes[name], o.Verify)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	idx := &Index{Format: IndexFormat, Version: IndexVersion, SchemaVersion: schemas.ClipSchemaVersion,
		Provenance: o.Provenance, Shards: []ShardEntry{}, Failures: []FileInfo{}}
	if idx.Provenance != nil {
		p := *idx.Provenance
		p.SchemaVersion = schemas.ClipSchemaVersion
		if err := p.Validate(); err != nil {
			return nil, err
		}
		idx.Provenance = &p
	}
	seen := map[string]string{}
	var ids []string
	var owner []int32
	for i, sc := range infos {
		if idx.Provenance == nil {
			p := sc.Provenance
			idx.Provenance = &p
		} else if !sameProvenance(*idx.Provenance, sc.Provenance) {
			return nil, fmt.Errorf("%w: shard %s was made with a different provenance than %s; one dataset holds one teacher, sampler and layout",
				schemas.ErrSchema, sc.Name, firstName(infos, o.Provenance))
		}
		for _, id := range sc.ClipIDs {
			if prev, ok := seen[id]; ok {
				return nil, fmt.Errorf("%w: clip %s is in %s and %s", ErrDuplicateClip, id, prev, sc.Name)
			}
			seen[id] = sc.Name
			ids = append(ids, id)
			owner = append(owner, int32(i))
		}
		idx.Shards = append(idx.Shards, ShardEntry{ShardInfo: sc.ShardInfo, FirstRow: idx.Rows})
		idx.Rows += int64(sc.Rows)
		idx.Bytes += sc.Bytes
	}
	for _, name := range failures {
		fi, err := failuresDescription(ctx, store, sizes[name])
		if err != nil {
			return nil, err
		}
		idx.Failures = append(idx.Failures, fi)
		idx.FailureRows += int64(fi.Rows)
		idx.Bytes += fi.Bytes
	}
	clips, err := writeClips(ctx, store, ids, owner)
	if err != nil {
		return nil, err
	}
	idx.Clips = clips
	idx.Bytes += clips.Bytes
	if err := putJSON(ctx, store, IndexName, idx); err != nil {
		return nil, fmt.Errorf("write %s: %w", IndexName, err)
	}
	return idx, nil
}

func firstName(infos []sidecar, given *schemas.Provenance) string {
	if given != nil || len(infos) == 0 {
		return "the given provenance"
	}
	return infos[0].Name
}

func sameProvenance(a, b schemas.Provenance) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// shardDescription returns a shard's rows, batches, checksum, clip ids and provenance, from its
// sidecar when the sidecar matches the object, else (or when verify is set) by reading it.
func shardDescription(ctx context.Context, store storage.Store, ob storage.ObjectInfo, verify bool) (sidecar, error) {
	if !verify {
		if sc, err := readSidecar(ctx, store, ob); err == nil {
			return sc, nil
		}
	}
	sc, err := readShardFully(ctx, store, ob)
	if err != nil {
		return sc, err
	}
	if verify {
		if old, err := readSidecar(ctx, store, ob); err == nil && old.SHA256 != sc.SHA256 {
			return sc, fmt.Errorf("%w: %s: sha256 %s, its sidecar says %s", ErrCorrupt, ob.Name, sc.SHA256, old.SHA256)
		}
	}
	// Repair the sidecar so the next index needs no full read.
	if err := putJSON(ctx, store, ob.Name+sidecarSuffix, sc); err != nil {
		return sc, err
	}
	return sc, nil
}

func readSidecar(ctx context.Context, store storage.Store, ob storage.ObjectInfo) (sidecar, error) {
	var sc sidecar
	b, err := readAll(ctx, store, ob.Name+sidecarSuffix, 64<<20)
	if err != nil {
		return sc, err
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, err
	}
	total := 0
	for _, n := range sc.Batches {
		total += n
	}
	switch {
	case sc.Name != ob.Name, sc.Bytes != ob.Size, sc.Rows != len(sc.ClipIDs), total != sc.Rows,
		ob.CRC32C != 0 && sc.CRC32C != ob.CRC32C, sc.Provenance.Validate() != nil:
		return sc, fmt.Errorf("sidecar of %s does not match the shard", ob.Name)
	}
	sc.ShardInfo.ClipIDs = sc.ClipIDs
	return sc, nil
}

func readAll(ctx context.Context, store storage.Store, name string, limit int64) ([]byte, error) {
	r, err := store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d expected", ErrCorrupt, name, r.Size(), limit)
	}
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil && !(err == io.EOF && len(b) == 0) {
		return nil, err
	}
	return b, nil
}

// readShardFully checksums and reads every row of a shard.
func readShardFully(ctx context.Context, store storage.Store, ob storage.ObjectInfo) (sidecar, error) {
	sc := sidecar{ShardInfo: ShardInfo{Name: ob.Name, Bytes: ob.Size}, CRC32C: ob.CRC32C}
	var sum shardSummary
	if path, ok := store.LocalPath(ob.Name); ok {
		data, release, err := mmap.File(path)
		if err != nil {
			return sc, err
		}
		defer release()
		sc.SHA256 = hashBytes(data)
		sc.Bytes = int64(len(data))
		if sum, err = summarizeBytes(data, memory.DefaultAllocator); err != nil {
			return sc, fmt.Errorf("%s: %w", ob.Name, err)
		}
	} else {
		r, err := store.Open(ctx, ob.Name)
		if err != nil {
			return sc, err
		}
		defer r.Close()
		if sc.SHA256, err = hashReader(r, r.Size()); err != nil {
			return sc, err
		}
		fr, err := openReaderAt(r, r.Size(), memory.DefaultAllocator)
		if err != nil {
			return sc, fmt.Errorf("%s: %w", ob.Name, err)
		}
		defer fr.Close()
		if sum, err = summarize(fr); err != nil {
			return sc, fmt.Errorf("%s: %w", ob.Name, err)
		}
	}
	sc.Rows, sc.Batches, sc.ClipIDs, sc.Provenance = sum.Rows, sum.Batches, sum.ClipIDs, sum.Prov
	sc.ShardInfo.ClipIDs = sum.ClipIDs
	return sc, nil
}

func failuresDescription(ctx context.Context, store storage.Store, ob storage.ObjectInfo) (FileInfo, error) {
	b, err := readAll(ctx, store, ob.Name, 1<<30)
	if err != nil {
		return FileInfo{}, err
	}
	rows, err := failuresFromBytes(b, memory.DefaultAllocator)
	if err != nil {
		return FileInfo{}, fmt.Errorf("%s: %w", ob.Name, err)
	}
	return FileInfo{Name: ob.Name, Rows: len(rows), Bytes: int64(len(b)), SHA256: hashBytes(b)}, nil
}

func clipsSchema() *arrow.Schema {
	md := arrow.NewMetadata([]string{schemas.MetaSchema, schemas.MetaSchemaVersion}, []string{"clip_ids", "1"})
	return arrow.NewSchema([]arrow.Field{
		{Name: schemas.ColClipID, Type: arrow.BinaryTypes.String},
		{Name: "shard", Type: arrow.PrimitiveTypes.Int32}, // index into Index.Shards
	}, &md)
}

// writeClips commits the clip ids (in global row order) under a content-addressed name.
func writeClips(ctx context.Context, store storage.Store, ids []string, owner []int32) (FileInfo, error) {
	mem := memory.DefaultAllocator
	b := array.NewRecordBuilder(mem, clipsSchema())
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(ids, nil)
	b.Field(1).(*array.Int32Builder).AppendValues(owner, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	if err := writeRecordFile(&buf, rec, mem); err != nil {
		return FileInfo{}, err
	}
	sha := hashBytes(buf.Bytes())
	info := FileInfo{Name: clipsPrefix + sha[:16] + shardSuffix, Rows: len(ids), Bytes: int64(buf.Len()), SHA256: sha}
	if err := storage.Put(ctx, store, info.Name, buf.Bytes(), storage.CreateOptions{IfNotExists: true}); err != nil {
		return info, fmt.Errorf("write %s: %w", info.Name, err)
	}
	return info, nil
}

// readClips reads a clip-id file and checks it against the index.
func readClips(ctx context.Context, store storage.Store, idx *Index) ([]string, error) {
	b, err := readAll(ctx, store, idx.Clips.Name, 1<<34)
	if err != nil {
		return nil, err
	}
	if hashBytes(b) != idx.Clips.SHA256 {
		return nil, fmt.Errorf("%w: %s does not match its checksum in the index", ErrCorrupt, idx.Clips.Name)
	}
	fr, err := openMapped(b, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	defer fr.Close()
	if !fr.Schema().Equal(clipsSchema()) {
		return nil, fmt.Errorf("%w: %s is not a clip-id file", ErrCorrupt, idx.Clips.Name)
	}
	var ids []string
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, idx.Clips.Name, err)
		}
		if err := array.ValidateRecordFull(rec); err != nil {
			rec.Release()
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, idx.Clips.Name, err)
		}
		col := rec.Column(0).(*array.String)
		for j := 0; j < col.Len(); j++ {
			ids = append(ids, strings.Clone(col.Value(j)))
		}
		rec.Release()
	}
	if int64(len(ids)) != idx.Rows {
		return nil, fmt.Errorf("%w: %s has %d clip ids, the index %d rows", ErrCorrupt, idx.Clips.Name, len(ids), idx.Rows)
	}
	return ids, nil
}
