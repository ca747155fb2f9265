package prep

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// Phases of a prep job. A cluster runs the cheap, CPU-bound decoding on many CPU workers
// (PhaseFrames) and the teacher on a few GPU machines (PhaseTeacher) as two jobs; a laptop
// runs both in one pass (PhaseAll). Frames, clip ids, failures and teacher outputs are the same
// either way: the two-phase dataset holds exactly the rows and failures of a one-pass run.
const (
	PhaseAll     = "all"
	PhaseFrames  = "frames"
	PhaseTeacher = "teacher"
)

// adoptFrames opens the frames dataset cfg.Manifest names and takes its sampling settings: the
// teacher phase must see exactly the frames (and clip ids) the first phase sampled.
func adoptFrames(ctx context.Context, cfg *Plan) error {
	ds, err := shard.Open(ctx, cfg.Manifest)
	if err != nil {
		return fmt.Errorf("--phase=teacher reads the frames dataset --input=%s: %w (run --phase=frames first)", cfg.Manifest, err)
	}
	defer ds.Close()
	in := ds.Provenance()
	if in.HasTeacher() {
		return fmt.Errorf("--input=%s already has teacher features (layout %s); --phase=teacher takes a frames dataset written by --phase=frames", cfg.Manifest, in.Layout)
	}
	cfg.Input = in
	cfg.Frames, cfg.Size, cfg.Seed = in.Frames, in.Size, in.Seed
	return nil
}

// StageFrames stages each decoded clip as a frames-only row (PhaseFrames).
func StageFrames(s beam.Scope, cfg Plan, decoded beam.PCollection) beam.PCollection {
	s = s.Scope("StageFrames")
	return beam.ParDo(s, &stageFramesFn{Cfg: cfg}, decoded)
}

type stageFramesFn struct {
	Cfg Plan

	store storage.Store
	ok    beam.Counter
}

func (f *stageFramesFn) Setup(ctx context.Context) error {
	f.ok = beam.NewCounter(Namespace, "clips_staged")
	st, err := storage.OpenStore(ctx, f.Cfg.Output)
	if err != nil {
		return fmt.Errorf("opening the output %s: %w", f.Cfg.Output, err)
	}
	f.store = st
	return nil
}

func (f *stageFramesFn) Teardown() {
	if f.store != nil {
		f.store.Close()
	}
}

func (f *stageFramesFn) ProcessElement(ctx context.Context, d Decoded, item func(int64, Item)) error {
	row := clipBase(d)
	if err := row.Validate(f.Cfg.Provenance); err != nil {
		return fmt.Errorf("internal: decoded clip %s does not fit the frames dataset: %w", d.Work.ClipID, err)
	}
	if err := stageRow(ctx, f.store, f.Cfg, row); err != nil {
		return fmt.Errorf("staging clip %s: %w", d.Work.ClipID, err) // storage trouble: retry the bundle
	}
	f.ok.Inc(ctx, 1)
	progress.done.Add(1)
	item(groupOf(d.Work.Row.Index, f.Cfg.GroupClips), d.Work.staged())
	return nil
}

// clipBase is the teacher-free part of a clip's row: what the frames phase stores, and what
// the teacher phase reads back (so a one-pass and a two-phase row agree column by column).
func clipBase(d Decoded) schemas.ClipRow {
	row := schemas.ClipRow{
		ClipID: d.Work.ClipID, SourceURI: d.Work.Row.URI, SpanStartS: d.Work.Row.Start, SpanEndS: d.Work.Row.End,
		Caption: d.Work.Row.Caption, Label: d.Work.Row.Label, ExtraCaptions: d.Work.Row.ExtraCaptions,
		FramePTS: d.FramePTS, FrameTimeS: d.FrameTimeS, Frames: d.Frames,
		PaddedFrames: d.Padded, DamagedFrames: d.Damaged, CaptionIDs: d.CaptionIDs, CaptionMask: d.CaptionMsk,
	}
	row.SpanEndS = video.SpanEnd(row.SpanStartS, row.SpanEndS, row.FrameTimeS) // "to the end": the last frame's time
	return row
}

// ReadFrames lists the frames dataset for the teacher phase: a reference to each of its clips
// not yet committed at the output (rows are loaded later, on the teacher's workers), its
// failures carried over as they are, and the total (clips + failures, the first phase's
// manifest rows) that ok + failed must add up to.
func ReadFrames(s beam.Scope, cfg Plan) (refs, items, count beam.PCollection) {
	s = s.Scope("ReadFrames")
	refs, items, count = beam.ParDo3(s, &readFramesFn{Cfg: cfg}, beam.Impulse(s))
	return beam.Reshuffle(s, refs), items, count
}

type readFramesFn struct {
	Cfg Plan

	rows   beam.Counter
	resume resumer
}

func (f *readFramesFn) Setup(ctx context.Context) error {
	f.rows = beam.NewCounter(Namespace, "manifest_rows")
	var err error
	f.resume, err = newResumer(ctx, f.Cfg)
	return err
}

// teacherPhaseFailure: only the teacher phase's own failures count there; a failure carried
// over from the frames dataset for a clip it now holds was retried there (--phase=frames
// --retry-failed).
func teacherPhaseFailure(f schemas.FailureRow) bool {
	return f.Stage == schemas.StageTeacher || f.Stage == schemas.StageReadFrames
}

func (f *readFramesFn) ProcessElement(ctx context.Context, _ []byte, ref func(Work), item func(int64, Item), count func(int64)) error {
	ds, err := shard.Open(ctx, f.Cfg.Manifest)
	if err != nil {
		return fmt.Errorf("opening the frames dataset %s: %w", f.Cfg.Manifest, err)
	}
	defer ds.Close()
	if err := sameProvenance(&f.Cfg.Input, ds.Provenance()); err != nil {
		return fmt.Errorf("the frames dataset %s changed since the job started: %v; rerun the command", f.Cfg.Manifest, err)
	}
	fails, err := ds.Failures(ctx)
	if err != nil {
		return fmt.Errorf("reading the failures of the frames dataset %s: %w", f.Cfg.Manifest, err)
	}
	ids := ds.ClipIDs()
	for i, id := range ids {
		idx := int64(i)
		w := Work{Row: manifest.Row{Index: idx}, ClipID: id, Attempt: 1}
		if f.resume.settled(ctx, &w, teacherPhaseFailure, item) {
			continue
		}
		ref(w)
	}
	for j, fr := range fails { // the first phase's failures, after its clips, in its order
		idx := int64(len(ids) + j)
		item(groupOf(idx, f.Cfg.GroupClips), Item{Index: idx, ClipID: fr.ClipID, Kind: ItemFailed, Failure: fr})
	}
	n := int64(len(ids) + len(fails))
	f.rows.Inc(ctx, n)
	count(n)
	return nil
}

// LoadFrames reads each referenced clip's frames from the frames dataset. Clips an interrupted
// run already staged come out as items; a row the dataset cannot give (a damaged shard) is a
// failure of class corrupt at stage read_frames, so one bad shard does not stop the job. Other
// read errors (storage) fail the bundle, which the runner retries.
func LoadFrames(s beam.Scope, cfg Plan, refs beam.PCollection) (decoded, items beam.PCollection) {
	s = s.Scope("LoadFrames")
	return beam.ParDo2(s, &loadFramesFn{Cfg: cfg}, refs)
}

type loadFramesFn struct {
	Cfg Plan

	store  storage.Store
	ds     *shard.Dataset
	staged beam.Counter
	frames beam.Counter
	failed beam.Counter
}

func (f *loadFramesFn) Setup(ctx context.Context) error {
	f.staged = beam.NewCounter(Namespace, "clips_resumed_from_staging")
	f.frames = beam.NewCounter(Namespace, "frames")
	f.failed = beam.NewCounter(Namespace, "read_frames_failed")
	st, err := storage.OpenStore(ctx, f.Cfg.Output)
	if err != nil {
		return fmt.Errorf("opening the output %s: %w", f.Cfg.Output, err)
	}
	f.store = st
	ds, err := shard.Open(ctx, f.Cfg.Manifest)
	if err != nil {
		return fmt.Errorf("opening the frames dataset %s: %w", f.Cfg.Manifest, err)
	}
	f.ds = ds
	return nil
}

func (f *loadFramesFn) Teardown() {
	if f.ds != nil {
		f.ds.Close()
	}
	if f.store != nil {
		f.store.Close()
	}
}

func (f *loadFramesFn) ProcessElement(ctx context.Context, w Work, emit func(Decoded), item func(int64, Item)) error {
	g := groupOf(w.Row.Index, f.Cfg.GroupClips)
	if done, err := alreadyStaged(ctx, f.store, f.Cfg, w, f.staged, item); done || err != nil {
		return err
	}
	i, found := f.ds.RowOf(w.ClipID)
	var row schemas.ClipRow
	var err error
	if found {
		row, err = f.ds.Row(ctx, i)
	}
	switch {
	case !found || errors.Is(err, schemas.ErrRow) || errors.Is(err, schemas.ErrSchema) || errors.Is(err, shard.ErrCorrupt):
		msg := "the frames dataset lists the clip but has no row for it"
		if err != nil {
			msg = fmt.Sprintf("the frames dataset's row is unreadable: %v; rerun --phase=frames into a new dataset", err)
		}
		f.failed.Inc(ctx, 1)
		progress.done.Add(1)
		progress.failed.Add(1)
		w.Row.URI = f.Cfg.Manifest + "#clip=" + w.ClipID
		item(g, w.failed(schemas.ClassCorrupt, schemas.StageReadFrames, msg))
		return nil
	case err != nil:
		return fmt.Errorf("reading clip %s from the frames dataset: %w", w.ClipID, err) // storage trouble: retry
	}
	row = row.Clone() // the row aliases the dataset's cached batch
	w.Row.URI, w.Row.Start, w.Row.End, w.Row.Caption, w.Row.Label = row.SourceURI, row.SpanStartS, row.SpanEndS, row.Caption, row.Label
	w.Row.ExtraCaptions = row.ExtraCaptions
	f.frames.Inc(ctx, int64(len(row.FramePTS)))
	emit(Decoded{Work: w, Frames: row.Frames, FramePTS: row.FramePTS, FrameTimeS: row.FrameTimeS,
		Padded: row.PaddedFrames, Damaged: row.DamagedFrames, CaptionIDs: row.CaptionIDs, CaptionMsk: row.CaptionMask})
	return nil
}

func init() {
	register.DoFn3x1[context.Context, Decoded, func(int64, Item), error](&stageFramesFn{})
	register.DoFn5x1[context.Context, []byte, func(Work), func(int64, Item), func(int64), error](&readFramesFn{})
	register.DoFn4x1[context.Context, Work, func(Decoded), func(int64, Item), error](&loadFramesFn{})
}
