package export

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// Namespace of the export's metrics.
const Namespace = "umt.export"

// Group is one shard's rows of the input dataset, [Lo, Hi).
type Group struct{ Index, Lo, Hi int64 }

// Result is what a group committed.
type Result struct {
	Name   string
	Rows   int64
	Bytes  int64
	Reused bool // the shard was committed by an earlier run
}

// Build adds the export pipeline to s.
func Build(s beam.Scope, p Plan) {
	s = s.Scope("Export")
	groups := beam.Reshuffle(s, beam.CreateList(s, Groups(p)))
	results := Embed(s, p, groups)
	Commit(s, p, results)
}

// Groups cuts the input's rows into shards of p.GroupClips rows.
func Groups(p Plan) []Group {
	gs := []Group{}
	for lo, i := int64(0), int64(0); lo < p.Rows; lo, i = lo+int64(p.GroupClips), i+1 {
		gs = append(gs, Group{Index: i, Lo: lo, Hi: min(lo+int64(p.GroupClips), p.Rows)})
	}
	return gs
}

// ShardName is group g's file: the plan's key (model, weights, input, grouping) and the group.
func ShardName(p Plan, g Group) string {
	return fmt.Sprintf("embeddings-%s-%05d.parquet", p.Key[:16], g.Index)
}

// Embed writes each group's shard, unless an earlier run committed it.
func Embed(s beam.Scope, p Plan, groups beam.PCollection) beam.PCollection {
	s = s.Scope("Embed")
	return beam.ParDo(s, &embedFn{Plan: p}, groups)
}

type embedFn struct {
	Plan Plan

	store    storage.Store
	ds       *shard.Dataset
	computed beam.Counter
	reused   beam.Counter
}

func (f *embedFn) Setup(ctx context.Context) error {
	f.computed = beam.NewCounter(Namespace, "clips_computed")
	f.reused = beam.NewCounter(Namespace, "clips_already_committed")
	st, err := storage.OpenStore(ctx, f.Plan.Output)
	if err != nil {
		return fmt.Errorf("opening the output %s: %w", f.Plan.Output, err)
	}
	f.store = st
	return nil
}

func (f *embedFn) Teardown() {
	if f.ds != nil {
		f.ds.Close()
	}
	if f.store != nil {
		f.store.Close()
	}
}

func (f *embedFn) ProcessElement(ctx context.Context, g Group, emit func(Result)) error {
	name := ShardName(f.Plan, g)
	if ok, err := f.store.Exists(ctx, name); err != nil {
		return err
	} else if ok {
		rows, size, err := parquetRows(ctx, f.store, name)
		if err != nil {
			return fmt.Errorf("the committed shard %s cannot be read (delete it and rerun): %w", name, err)
		}
		if rows != g.Hi-g.Lo {
			return fmt.Errorf("the committed shard %s holds %d rows, want %d (delete it and rerun)", name, rows, g.Hi-g.Lo)
		}
		f.reused.Inc(ctx, rows)
		emit(Result{Name: name, Rows: rows, Bytes: size, Reused: true})
		return nil
	}
	if f.ds == nil {
		ds, err := shard.Open(ctx, f.Plan.Input)
		if err != nil {
			return fmt.Errorf("opening the input %s: %w", f.Plan.Input, err)
		}
		f.ds = ds
	}
	e, err := getEmbedder(ctx, f.Plan)
	if err != nil {
		return err // a model that cannot load fails the job: every clip would fail
	}
	defer putEmbedder(f.Plan, e)
	rows := make([]schemas.EmbeddingRow, 0, g.Hi-g.Lo)
	for i := g.Lo; i < g.Hi; i++ {
		r, err := f.ds.Row(ctx, int(i))
		if err != nil {
			return fmt.Errorf("reading input row %d: %w", i, err)
		}
		out, err := e.Embed(r)
		if err != nil {
			return err
		}
		rows = append(rows, out)
	}
	data, err := EncodeParquet(f.Plan.Info, rows)
	if err != nil {
		return err
	}
	if err := storage.Put(ctx, f.store, name, data, storage.CreateOptions{IfNotExists: true}); err != nil {
		return fmt.Errorf("committing %s: %w", name, err)
	}
	f.computed.Inc(ctx, int64(len(rows)))
	emit(Result{Name: name, Rows: int64(len(rows)), Bytes: int64(len(data))})
	return nil
}

// EncodeParquet writes rows as one Parquet file of info's schema (stored in the file, with
// info's metadata as the file's key-value metadata), snappy-compressed (every Parquet reader decodes it), one row group.
func EncodeParquet(info schemas.EmbeddingInfo, rows []schemas.EmbeddingRow) ([]byte, error) {
	sc := info.Schema()
	rec, err := schemas.NewEmbeddingRecord(memory.DefaultAllocator, sc, rows)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("umt export"), parquet.WithMaxRowGroupLength(int64(max(len(rows), 1))))
	w, err := pqarrow.NewFileWriter(sc, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parquetRows reads a committed shard's row count from its footer.
func parquetRows(ctx context.Context, st storage.Store, name string) (int64, int64, error) {
	r, err := st.Open(ctx, name)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	pr, err := file.NewParquetReader(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		return 0, 0, err
	}
	defer pr.Close()
	return pr.NumRows(), r.Size(), nil
}

func init() {
	register.DoFn3x1[context.Context, Group, func(Result), error](&embedFn{})
	register.Emitter1[Result]()
}
