package export

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// Namespace of the export's metrics.
const Namespace = "umt.export"

// Group is one shard's rows of the input dataset, [Lo, Hi).
type Group struct{ Index, Lo, Hi int64 }

// Build adds the export pipeline of p's input to s.
func Build(s beam.Scope, p Plan) {
	s = s.Scope("Export")
	if p.Source == SourceManifest {
		rows, count := ReadManifest(s, p)
		work, early := Identify(s, p, rows)
		items := EmbedClips(s, p, work)
		results := WriteGroups(s, p, beam.Flatten(s, early, items))
		Commit(s, p, count, results)
		return
	}
	groups := beam.Reshuffle(s, beam.CreateList(s, Groups(p)))
	results := Embed(s, p, groups)
	Commit(s, p, beam.Create(s, p.Rows), results)
}

// Groups cuts the input's rows into shards of p.GroupClips rows.
func Groups(p Plan) []Group {
	gs := []Group{}
	for lo, i := int64(0), int64(0); lo < p.Rows; lo, i = lo+int64(p.GroupClips), i+1 {
		gs = append(gs, Group{Index: i, Lo: lo, Hi: min(lo+int64(p.GroupClips), p.Rows)})
	}
	return gs
}

// Embed writes each group of a dataset's rows, unless an earlier run committed it.
func Embed(s beam.Scope, p Plan, groups beam.PCollection) beam.PCollection {
	s = s.Scope("Embed")
	return beam.ParDo(s, &embedFn{Plan: p}, groups)
}

type embedFn struct {
	Plan Plan

	store    storage.Store
	ds       *shard.Dataset
	ids      []string // the input's clip ids, in row order
	computed beam.Counter
	reused   beam.Counter
	failed   beam.Counter
	retried  beam.Counter
}

func (f *embedFn) Setup(ctx context.Context) error {
	f.computed = beam.NewCounter(Namespace, "clips_computed")
	f.reused = beam.NewCounter(Namespace, "clips_already_committed")
	f.failed = beam.NewCounter(Namespace, "read_frames_failed")
	f.retried = beam.NewCounter(Namespace, "failures_retried")
	var err error
	f.store, err = openOutput(ctx, f.Plan)
	return err
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
	gp, err := planGroup(ctx, f.store, f.Plan, g.Index)
	if err != nil {
		return err
	}
	if gp.done != nil {
		if f.Plan.NPY {
			if err := ensureNPY(ctx, f.store, f.Plan, *gp.done); err != nil {
				return err
			}
		}
		f.reused.Inc(ctx, gp.done.Rows)
		emit(*gp.done)
		return nil
	}
	if f.ds == nil {
		ds, err := shard.Open(ctx, f.Plan.Input)
		if err != nil {
			return fmt.Errorf("opening the input %s: %w", f.Plan.Input, err)
		}
		f.ds, f.ids = ds, ds.ClipIDs()
	}
	e, err := getEmbedder(ctx, f.Plan)
	if err != nil {
		return err // a model that cannot load fails the job: every clip would fail
	}
	defer putEmbedder(f.Plan, e)
	kept, err := keptRows(ctx, f.Plan, gp)
	if err != nil {
		return err
	}
	ids := f.ids
	var rows []schemas.EmbeddingRow
	var fails []schemas.FailureRow
	for i := g.Lo; i < g.Hi; i++ {
		if r, ok := kept[ids[i]]; ok {
			f.reused.Inc(ctx, 1)
			rows = append(rows, r)
			continue
		}
		attempt := 1
		if old, ok := gp.retry[ids[i]]; ok {
			f.retried.Inc(ctx, 1)
			attempt = old.Attempt + 1
		}
		r, err := f.ds.Row(ctx, int(i))
		if errors.Is(err, schemas.ErrRow) || errors.Is(err, schemas.ErrSchema) || errors.Is(err, shard.ErrCorrupt) {
			f.failed.Inc(ctx, 1)
			uri := f.Plan.Input + "#clip=" + ids[i]
			fails = append(fails, schemas.FailureRow{URI: uri, ClipID: ids[i], ErrorClass: schemas.ClassCorrupt, Stage: schemas.StageReadFrames, Attempt: attempt,
				Message: manifest.SafeMessage(uri, fmt.Sprintf("the dataset's row is unreadable: %v", err))})
			continue
		}
		if err != nil {
			return fmt.Errorf("reading input row %d: %w", i, err) // storage trouble: the runner retries the bundle
		}
		out, err := e.Embed(r)
		if err != nil {
			return err
		}
		f.computed.Inc(ctx, 1)
		rows = append(rows, out)
	}
	res, err := writeGroup(ctx, f.store, f.Plan, g.Index, gp.base, rows, fails)
	if err != nil {
		return err
	}
	emit(res)
	return nil
}

// keptRows are the rows of the earlier export's shard that a --retry-failed group keeps, by
// clip id (nil when the group is computed from scratch).
func keptRows(ctx context.Context, p Plan, gp groupPlan) (map[string]schemas.EmbeddingRow, error) {
	if gp.prev == nil {
		return nil, nil
	}
	rows, err := readShard(ctx, storage.Join(p.Output, gp.prev.Name))
	if err != nil {
		return nil, fmt.Errorf("reading the earlier export's %s: %w", gp.prev.Name, err)
	}
	m := make(map[string]schemas.EmbeddingRow, len(rows))
	for _, r := range rows {
		m[r.ClipID] = r
	}
	return m, nil
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
