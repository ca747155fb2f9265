package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
)

// previous is the dataset an earlier run committed at the output, if any: what resume skips.
type previous struct {
	ds       *shard.Dataset
	failures map[string]schemas.FailureRow // by clip id
}

func (p *previous) committed(id string) bool { return p != nil && p.ds.Has(id) }

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
		if f.ClipID != "" && f.ErrorClass != ClassDuplicate {
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
	a, b := *old, now
	a.UMTVersion, b.UMTVersion, a.SchemaVersion, b.SchemaVersion = "", "", 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Errorf("its provenance is %s, this run's is %s", ja, jb)
	}
	return nil
}
