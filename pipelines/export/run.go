package export

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/umt-dev/umt/runners"
	"github.com/umt-dev/umt/schemas"
)

// Report is what a run did, read back from the committed index and the runner's metrics.
type Report struct {
	Export        string                         `json:"export"`
	Source        string                         `json:"source"`
	Runner        string                         `json:"runner"`
	Rows          int64                          `json:"input_rows"`
	OK            int64                          `json:"ok"`
	Failed        int64                          `json:"failed"`
	FailedByClass map[schemas.FailureClass]int64 `json:"failed_by_class"`
	Retried       int64                          `json:"failures_retried"`
	Accounted     bool                           `json:"ok_plus_failed_equals_rows"`
	Shards        int                            `json:"shards"`
	Bytes         int64                          `json:"bytes"`
	Computed      int64                          `json:"clips_computed"`
	Committed     int64                          `json:"clips_already_committed"`
	WallS         float64                        `json:"wall_s"`
	ClipsPerS     float64                        `json:"clips_per_s"`
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
	fails, err := ReadFailures(ctx, p.Output)
	if err != nil {
		return nil, err
	}
	r := &Report{Export: p.Output, Source: p.Source, Runner: res.Runner, Rows: idx.InputRows, OK: idx.Rows, Failed: idx.Failed,
		FailedByClass: map[schemas.FailureClass]int64{}, Retried: res.Counter(Namespace, "failures_retried"),
		Shards: len(idx.Shards), Bytes: idx.Bytes, WallS: time.Since(start).Seconds(),
		Computed: res.Counter(Namespace, "clips_computed"), Committed: res.Counter(Namespace, "clips_already_committed")}
	for _, f := range fails {
		r.FailedByClass[f.ErrorClass]++
	}
	r.Accounted = r.OK+r.Failed == r.Rows && int64(len(fails)) == r.Failed
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
	var b strings.Builder
	fmt.Fprintf(&b, "export: %d input rows (%s) → %d embeddings, %d failed (ok + failed = rows %s)\n", r.Rows, r.Source, r.OK, r.Failed, check)
	if len(r.FailedByClass) > 0 {
		b.WriteString("  failures by class:")
		for _, c := range slices.Sorted(maps.Keys(r.FailedByClass)) {
			fmt.Fprintf(&b, " %s=%d", c, r.FailedByClass[c])
		}
		b.WriteString(" (failures-*.arrow; --retry-failed redoes them)\n")
	}
	fmt.Fprintf(&b, "  computed %d, reused %d committed, retried %d failures; %d shards, %.1f MB in %s\n  %.1f s wall, %.2f clips/s, runner %s\n",
		r.Computed, r.Committed, r.Retried, r.Shards, float64(r.Bytes)/1e6, r.Export, r.WallS, r.ClipsPerS, r.Runner)
	return b.String()
}
