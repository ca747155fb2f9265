package prep

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// Commit writes the dataset index once every group has committed (the group results are a
// side input, so the runner finishes them all first), after checking that every manifest row
// is accounted for, then removes the staged rows.
func Commit(s beam.Scope, cfg Plan, count, results beam.PCollection) {
	s = s.Scope("Commit")
	beam.ParDo0(s, &commitFn{Cfg: cfg}, count, beam.SideInput{Input: results})
}

type commitFn struct{ Cfg Plan }

func (f *commitFn) ProcessElement(ctx context.Context, rows int64, results func(*GroupResult) bool) error {
	shards, failures := []string{}, []string{}
	var ok, failed int64
	var r GroupResult
	for results(&r) {
		shards = append(shards, r.Shards...)
		if r.Failures != "" {
			failures = append(failures, r.Failures)
		}
		ok += r.OK
		failed += r.Failed
		r = GroupResult{}
	}
	if ok+failed != rows {
		return fmt.Errorf("accounting error: %d clips + %d failures != %d manifest rows; the index was not written (this is a bug in umt: please report it with the manifest)", ok, failed, rows)
	}
	sort.Strings(shards)
	sort.Strings(failures)
	prov := f.Cfg.Provenance
	idx, err := shard.CommitIndex(ctx, f.Cfg.Output, shard.IndexOptions{Shards: shards, Failures: failures, Provenance: &prov})
	if err != nil {
		return fmt.Errorf("committing the dataset index: %w", err)
	}
	if idx.Rows != ok || idx.FailureRows != failed {
		return fmt.Errorf("the committed index holds %d clips and %d failures, expected %d and %d", idx.Rows, idx.FailureRows, ok, failed)
	}
	return cleanStaging(ctx, f.Cfg)
}

// cleanStaging removes the staged rows once the index that supersedes them is committed.
func cleanStaging(ctx context.Context, c Plan) error {
	st, err := storage.OpenStore(ctx, c.Output)
	if err != nil {
		return err
	}
	defer st.Close()
	objs, err := st.List(ctx, "_staging/")
	if err != nil {
		return fmt.Errorf("listing staged rows to clean up: %w", err)
	}
	for _, o := range objs {
		if err := st.Delete(ctx, o.Name); err != nil {
			return fmt.Errorf("cleaning up %s: %w", o.Name, err)
		}
	}
	if dir, ok := st.LocalPath("_staging"); ok { // local disk keeps empty directories
		os.RemoveAll(dir)
	}
	return nil
}

func init() {
	register.DoFn3x1[context.Context, int64, func(*GroupResult) bool, error](&commitFn{})
	register.Iter1[GroupResult]()
}
