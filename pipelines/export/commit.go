package export

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// Index is the export's index.json: what a reader may read, written after every shard.
type Index struct {
	Schema        string                `json:"schema"` // "embeddings"
	SchemaVersion int                   `json:"schema_version"`
	Info          schemas.EmbeddingInfo `json:"info"`
	DType         string                `json:"dtype"`
	Source        string                `json:"source"` // SourceDataset or SourceManifest
	Input         string                `json:"input"`
	InputSHA256   string                `json:"input_sha256"` // of the dataset's index.json, or of the manifest
	Key           string                `json:"key"`          // the export's settings: a rerun must have the same
	InputRows     int64                 `json:"input_rows"`   // dataset rows, or manifest entries
	Rows          int64                 `json:"rows"`
	Failed        int64                 `json:"failed"`
	Bytes         int64                 `json:"bytes"`
	NPY           bool                  `json:"npy"` // emb/<shard>.npy + metadata/<shard>.parquet beside every shard
	Shards        []IndexShard          `json:"shards"`
	Failures      []IndexShard          `json:"failures"` // failures tables (schemas.FailureSchema, Arrow IPC), by group
}

// IndexShard is one file of the index, in group order.
type IndexShard struct {
	Group int64  `json:"group"`
	Name  string `json:"name"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// group returns the shard and failures file of group g (nil when absent).
func (x *Index) group(g int64) (sh, fl *IndexShard) {
	for i := range x.Shards {
		if x.Shards[i].Group == g {
			sh = &x.Shards[i]
		}
	}
	for i := range x.Failures {
		if x.Failures[i].Group == g {
			fl = &x.Failures[i]
		}
	}
	return sh, fl
}

// Commit writes index.json once every group has committed (the results are a side input, so
// the runner finishes them all first), after checking that every input row is accounted for
// (count: the input's rows), then removes files no index lists (groups an earlier run wrote
// that a --retry-failed run replaced, or a killed run's of other settings).
func Commit(s beam.Scope, p Plan, count, results beam.PCollection) {
	s = s.Scope("Commit")
	beam.ParDo0(s, &commitFn{Plan: p}, count, beam.SideInput{Input: results})
}

type commitFn struct{ Plan Plan }

func (f *commitFn) ProcessElement(ctx context.Context, rows int64, results func(*Result) bool) error {
	var rs []Result
	var r Result
	for results(&r) {
		rs = append(rs, r)
		r = Result{}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Group < rs[j].Group })
	p := f.Plan
	idx := Index{Schema: "embeddings", SchemaVersion: schemas.EmbeddingSchemaVersion, Info: p.Info, DType: p.Info.DType,
		Source: p.Source, Input: p.Input, InputSHA256: p.InputSHA, Key: p.Key, InputRows: rows, NPY: p.NPY,
		Shards: []IndexShard{}, Failures: []IndexShard{}}
	for i, r := range rs {
		if i > 0 && rs[i-1].Group == r.Group {
			return fmt.Errorf("internal: group %d committed twice (%s, %s)", r.Group, rs[i-1].Name, r.Name)
		}
		idx.Shards = append(idx.Shards, IndexShard{Group: r.Group, Name: r.Name, Rows: r.Rows, Bytes: r.Bytes})
		if r.Failures != "" {
			idx.Failures = append(idx.Failures, IndexShard{Group: r.Group, Name: r.Failures, Rows: r.Failed, Bytes: r.FailuresBytes})
		}
		idx.Rows += r.Rows
		idx.Failed += r.Failed
		idx.Bytes += r.Bytes + r.FailuresBytes
	}
	if idx.Rows+idx.Failed != rows {
		return fmt.Errorf("accounting error: %d rows + %d failures != %d input rows; the index was not written (this is a bug in umt: please report it)", idx.Rows, idx.Failed, rows)
	}
	b, _ := json.MarshalIndent(idx, "", "  ")
	if err := storage.WriteFile(ctx, storage.Join(p.Output, IndexName), append(b, '\n')); err != nil {
		return err
	}
	return removeUnlisted(ctx, p.Output, &idx)
}

// removeUnlisted deletes the export's files (shards, failures, the --npy view) that idx does
// not list.
func removeUnlisted(ctx context.Context, root string, idx *Index) error {
	st, err := storage.OpenStore(ctx, root)
	if err != nil {
		return err
	}
	defer st.Close()
	keep := map[string]bool{}
	for _, sh := range idx.Shards {
		base := strings.TrimSuffix(sh.Name, ".parquet")
		keep[sh.Name] = true
		if idx.NPY && sh.Rows > 0 {
			keep[npyName(base)], keep[metaName(base)] = true, true
		}
	}
	for _, fl := range idx.Failures {
		keep[fl.Name] = true
	}
	for _, pre := range []string{"embeddings-", "failures-", npyDir, metaDir} {
		objs, err := st.List(ctx, pre)
		if err != nil {
			return fmt.Errorf("listing %s to clean up: %w", storage.Join(root, pre), err)
		}
		for _, o := range objs {
			if !keep[o.Name] {
				if err := st.Delete(ctx, o.Name); err != nil {
					return fmt.Errorf("removing %s, which the index does not list: %w", o.Name, err)
				}
			}
		}
	}
	for _, d := range []string{npyDir, metaDir} { // local disk keeps empty directories
		if p, ok := st.LocalPath(strings.TrimSuffix(d, "/")); ok && !idx.NPY {
			os.Remove(p)
		}
	}
	return nil
}

// ReadIndex reads an export's index.json.
func ReadIndex(ctx context.Context, root string) (*Index, error) {
	r, err := storage.Open(ctx, storage.Join(root, IndexName))
	if err != nil {
		return nil, fmt.Errorf("%s is not a finished export: %w", root, err)
	}
	defer r.Close()
	b := make([]byte, r.Size())
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, err
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", storage.Join(root, IndexName), err)
	}
	return &idx, nil
}

func init() {
	register.DoFn3x1[context.Context, int64, func(*Result) bool, error](&commitFn{})
	register.Iter1[Result]()
}
