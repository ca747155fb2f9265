package export

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

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
	Input         string                `json:"input"`
	InputSHA256   string                `json:"input_index_sha256"`
	InputRows     int64                 `json:"input_rows"`
	Rows          int64                 `json:"rows"`
	Failed        int64                 `json:"failed"`
	Bytes         int64                 `json:"bytes"`
	Shards        []IndexShard          `json:"shards"`
}

// IndexShard is one shard of the index, in row order.
type IndexShard struct {
	Name  string `json:"name"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Commit writes index.json once every group has committed (the results are a side input, so
// the runner finishes them all first), after checking that every input row is accounted for.
func Commit(s beam.Scope, p Plan, results beam.PCollection) {
	s = s.Scope("Commit")
	beam.ParDo0(s, &commitFn{Plan: p}, beam.Impulse(s), beam.SideInput{Input: results})
}

type commitFn struct{ Plan Plan }

func (f *commitFn) ProcessElement(ctx context.Context, _ []byte, results func(*Result) bool) error {
	var rs []Result
	var r Result
	for results(&r) {
		rs = append(rs, r)
		r = Result{}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	idx := Index{Schema: "embeddings", SchemaVersion: schemas.EmbeddingSchemaVersion, Info: f.Plan.Info, DType: f.Plan.Info.DType,
		Input: f.Plan.Input, InputSHA256: f.Plan.InputSHA, InputRows: f.Plan.Rows, Shards: []IndexShard{}}
	for _, r := range rs {
		idx.Shards = append(idx.Shards, IndexShard{Name: r.Name, Rows: r.Rows, Bytes: r.Bytes})
		idx.Rows += r.Rows
		idx.Bytes += r.Bytes
	}
	if idx.Rows+idx.Failed != f.Plan.Rows {
		return fmt.Errorf("accounting error: %d rows + %d failures != %d input rows; the index was not written (this is a bug in umt: please report it)", idx.Rows, idx.Failed, f.Plan.Rows)
	}
	b, _ := json.MarshalIndent(idx, "", "  ")
	return storage.WriteFile(ctx, storage.Join(f.Plan.Output, IndexName), append(b, '\n'))
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
	register.DoFn3x1[context.Context, []byte, func(*Result) bool, error](&commitFn{})
	register.Iter1[Result]()
}
