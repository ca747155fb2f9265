package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/umt-dev/umt/runners"
)

// Report is what a run did, read back from the committed index and the runner's metrics.
type Report struct {
	Export    string  `json:"export"`
	Runner    string  `json:"runner"`
	Rows      int64   `json:"input_rows"`
	OK        int64   `json:"ok"`
	Failed    int64   `json:"failed"`
	Accounted bool    `json:"ok_plus_failed_equals_rows"`
	Shards    int     `json:"shards"`
	Bytes     int64   `json:"bytes"`
	Computed  int64   `json:"clips_computed"`
	Committed int64   `json:"clips_already_committed"`
	WallS     float64 `json:"wall_s"`
	ClipsPerS float64 `json:"clips_per_s"`
}

// Run runs p's pipeline on the runner the flags choose.
func Run(ctx context.Context, p Plan) (*Report, error) {
	if p.Key == "" {
		return nil, errors.New("export.Run: the plan was not made by Prepare")
	}
	start := time.Now()
	runners.Init()
	pipe, s := beam.NewPipelineWithRoot()
	Build(s, p)
	res, err := runners.Run(ctx, pipe)
	if err != nil {
		return nil, err
	}
	idx, err := ReadIndex(ctx, p.Output)
	if err != nil {
		return nil, fmt.Errorf("the job finished but its index cannot be read: %w", err)
	}
	r := &Report{Export: p.Output, Runner: res.Runner, Rows: p.Rows, OK: idx.Rows, Failed: idx.Failed,
		Shards: len(idx.Shards), Bytes: idx.Bytes, WallS: time.Since(start).Seconds(),
		Computed: res.Counter(Namespace, "clips_computed"), Committed: res.Counter(Namespace, "clips_already_committed")}
	r.Accounted = r.OK+r.Failed == r.Rows
	if r.WallS > 0 {
		r.ClipsPerS = float64(r.Computed) / r.WallS
	}
	return r, nil
}

// Summary is the human-readable report.
func (r *Report) Summary() string {
	check := "✓"
	if !r.Accounted {
		check = "✗"
	}
	return fmt.Sprintf("export: %d input rows → %d embeddings, %d failed (ok + failed = rows %s)\n"+
		"  computed %d, reused %d committed; %d shards, %.1f MB in %s\n  %.1f s wall, %.2f clips/s, runner %s\n",
		r.Rows, r.OK, r.Failed, check, r.Computed, r.Committed, r.Shards, float64(r.Bytes)/1e6, r.Export, r.WallS, r.ClipsPerS, r.Runner)
}
