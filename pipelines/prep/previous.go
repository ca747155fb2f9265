package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
)

// previous is the dataset an earlier run committed at the output, if any: what resume skips.
type previous struct {
	ds       *shard.Dataset
	failures map[string]schemas.FailureRow // by clip id
}

func (p *previous) committed(id string) bool { return p != nil && p.ds.Has(id) }

// resumer makes the resume decision, the same in every phase: a clip the earlier run committed
// is not computed again; nor is one whose failure it recorded (and this phase owns), unless
// --retry-failed, which computes it as the next attempt.
type resumer struct {
	prev              *previous
	retry             bool
	groupClips        int
	resumed, retrying beam.Counter
}

func newResumer(ctx context.Context, cfg Plan) (resumer, error) {
	p, err := openPrevious(ctx, cfg)
	return resumer{prev: p, retry: cfg.RetryFailed, groupClips: cfg.GroupClips,
		resumed:  beam.NewCounter(Namespace, "clips_already_committed"),
		retrying: beam.NewCounter(Namespace, "failures_retried")}, err
}

// anyFailure: every recorded failure of a clip is the phase's own.
func anyFailure(schemas.FailureRow) bool { return true }

// settled reports whether the earlier run settles w, sending its item on if so; otherwise it
// sets w's attempt (1, or one past the recorded failure's when retried).
func (r resumer) settled(ctx context.Context, w *Work, owns func(schemas.FailureRow) bool, item func(int64, Item)) bool {
	if r.prev == nil {
		return false
	}
	g := groupOf(w.Row.Index, r.groupClips)
	if r.prev.committed(w.ClipID) {
		r.resumed.Inc(ctx, 1)
		item(g, Item{Index: w.Row.Index, ClipID: w.ClipID, Kind: ItemCommitted})
		return true
	}
	old, ok := r.prev.failures[w.ClipID]
	if !ok || !owns(old) {
		return false
	}
	if !r.retry {
		item(g, Item{Index: w.Row.Index, ClipID: w.ClipID, Kind: ItemFailed, Failure: old})
		return true
	}
	r.retrying.Inc(ctx, 1)
	w.Attempt = old.Attempt + 1
	return false
}

type prevEntry struct {
	once sync.Once
	p    *previous
	err  error
}

// prevCache shares one open previous dataset among the DoFns of a run in this process.
var prevCache sync.Map // RunID → *prevEntry

// openPrevious opens the dataset committed at cfg.Output before this run (nil if none).
func openPrevious(ctx context.Context, cfg Plan) (*previous, error) {
	e, _ := prevCache.LoadOrStore(cfg.RunID, &prevEntry{})
	ent := e.(*prevEntry)
	ent.once.Do(func() { ent.p, ent.err = loadPrevious(ctx, cfg) })
	return ent.p, ent.err
}

// releasePrevious closes the run's previous dataset (the launcher calls it after the run).
func releasePrevious(runID string) {
	if e, ok := prevCache.LoadAndDelete(runID); ok {
		if p := e.(*prevEntry).p; p != nil {
			p.ds.Close()
		}
	}
}

func loadPrevious(ctx context.Context, cfg Plan) (*previous, error) {
	ds, err := shard.Open(ctx, cfg.Output)
	if errors.Is(err, shard.ErrNoIndex) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the dataset already at %s to resume: %w; delete it or choose another --output", cfg.Output, err)
	}
	if err := sameProvenance(ds.Index().Provenance, cfg.Provenance); err != nil {
		ds.Close()
		return nil, fmt.Errorf("the dataset already at %s was made differently: %v; choose another --output to make a new one", cfg.Output, err)
	}
	fails, err := ds.Failures(ctx)
	if err != nil {
		ds.Close()
		return nil, fmt.Errorf("reading the failures table of %s: %w", cfg.Output, err)
	}
	p := &previous{ds: ds, failures: map[string]schemas.FailureRow{}}
	for _, f := range fails {
		if f.ClipID != "" && f.ErrorClass != schemas.ClassDuplicate {
			p.failures[f.ClipID] = f
		}
	}
	return p, nil
}

// sameProvenance compares what decides a dataset's contents (not the umt version).
func sameProvenance(old *schemas.Provenance, now schemas.Provenance) error {
	if old == nil {
		return nil
	}
	if old.SchemaVersion != now.SchemaVersion && old.SchemaVersion != 0 && now.SchemaVersion != 0 {
		return fmt.Errorf("it has schema version %d and this run writes version %d (the old dataset still reads)", old.SchemaVersion, now.SchemaVersion)
	}
	a, b := *old, now
	a.UMTVersion, b.UMTVersion, a.SchemaVersion, b.SchemaVersion = "", "", 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Errorf("its provenance is %s, this run's is %s", ja, jb)
	}
	return nil
}
