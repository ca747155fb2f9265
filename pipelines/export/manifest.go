package export

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// Manifest input, as `umt prep` reads it:
//
//	read manifest → clip ids (malformed rows fail) → dedupe by clip id (a shuffle) →
//	decode + sample + embed each clip (transforms/video, the model) → group by manifest
//	position → write each group's shard + failures → commit (ok + failed == manifest rows)
//
// Only embeddings and failures travel through the group shuffle: a few KB per clip.

// Work is a manifest row with its clip id and attempt: the unit of decoding.
type Work struct {
	Row     manifest.Row
	ClipID  string
	Attempt int
}

// Item is one manifest row on its way to its group's writer.
type Item struct {
	Index   int64  // manifest position: orders rows inside a group
	ClipID  string // ItemKept: the row to take from the earlier shard
	Kind    ItemKind
	Row     schemas.EmbeddingRow // ItemRow
	Failure schemas.FailureRow   // ItemFailed
}

// ItemKind says what an item carries.
type ItemKind uint8

const (
	ItemRow       ItemKind = iota + 1 // an embedded clip
	ItemFailed                        // a failure row
	ItemCommitted                     // nothing: the group was committed by an earlier run
	ItemKept                          // a --retry-failed group's ok row, in the earlier run's shard
)

func groupOf(p Plan, index int64) int64 { return index / int64(p.GroupClips) }

// failed is the failure item of a work unit; the message is made storable.
func (w Work) failed(class schemas.FailureClass, stage schemas.Stage, msg string) Item {
	return Item{Index: w.Row.Index, Kind: ItemFailed, Failure: schemas.FailureRow{
		URI: w.Row.URI, ClipID: w.ClipID, SpanStartS: w.Row.Start, SpanEndS: w.Row.End,
		ErrorClass: class, Message: manifest.SafeMessage(w.Row.URI, msg), Stage: stage, Attempt: w.Attempt,
	}}
}

// ReadManifest reads the manifest on one worker: its rows, and a singleton with their count
// (what ok + failed must add up to).
func ReadManifest(s beam.Scope, p Plan) (rows, count beam.PCollection) {
	s = s.Scope("ReadManifest")
	return beam.ParDo2(s, &readManifestFn{Plan: p}, beam.Impulse(s))
}

type readManifestFn struct{ Plan Plan }

func (f *readManifestFn) ProcessElement(ctx context.Context, _ []byte, emit func(manifest.Row), count func(int64)) error {
	opt := manifest.Options{Format: manifest.Format(f.Plan.ManifestFormat), Root: f.Plan.Root}
	if f.Plan.CSVSep != "" {
		opt.Sep = []rune(f.Plan.CSVSep)[0]
	}
	var n int64
	if err := manifest.Read(ctx, f.Plan.Input, opt, func(r manifest.Row) error { n++; emit(r); return nil }); err != nil {
		return fmt.Errorf("reading the manifest: %w", err)
	}
	beam.NewCounter(Namespace, "manifest_rows").Inc(ctx, n)
	count(n)
	return nil
}

// Identify gives each usable row its clip id (prep's: URI, span and sampling) and keeps each
// clip id's first row; malformed rows, text that is not UTF-8 under --on-bad-text=fail, and
// duplicates come back as failure items keyed by group.
func Identify(s beam.Scope, p Plan, rows beam.PCollection) (work, items beam.PCollection) {
	s = s.Scope("Identify")
	byID, bad := beam.ParDo2(s, &clipIDFn{Plan: p}, rows)
	work, dups := beam.ParDo2(s, &dedupeFn{Plan: p}, beam.GroupByKey(s, byID))
	return beam.Reshuffle(s, work), beam.Flatten(s, bad, dups)
}

type clipIDFn struct{ Plan Plan }

func (f *clipIDFn) ProcessElement(ctx context.Context, r manifest.Row, emit func(string, manifest.Row), fail func(int64, Item)) {
	g := groupOf(f.Plan, r.Index)
	if r.Err != "" {
		if r.URI == "" { // name the manifest row, so the failure says where to look
			r.URI = f.Plan.Input + "#row=" + strconv.FormatInt(r.Index, 10)
		}
		fail(g, Work{Row: r, Attempt: 1}.failed(schemas.ClassManifest, schemas.StageReadManifest, r.Err))
		return
	}
	id := schemas.ClipID(r.URI, r.Start, r.End, f.Plan.Sampling.String())
	if r.TextReplaced > 0 && f.Plan.OnBadText == BadTextFail {
		fail(g, Work{Row: r, ClipID: id, Attempt: 1}.failed(schemas.ClassBadText, schemas.StageReadManifest,
			r.BadText+"; pass --on-bad-text=replace to keep the row with U+FFFD in their place"))
		return
	}
	emit(id, r)
}

type dedupeFn struct{ Plan Plan }

func (f *dedupeFn) ProcessElement(ctx context.Context, id string, rows func(*manifest.Row) bool, emit func(Work), item func(int64, Item)) {
	var all []manifest.Row
	var r manifest.Row
	for rows(&r) {
		all = append(all, r)
		r = manifest.Row{}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Index < all[j].Index })
	for _, d := range all[1:] {
		beam.NewCounter(Namespace, "duplicates").Inc(ctx, 1)
		item(groupOf(f.Plan, d.Index), Work{Row: d, ClipID: id, Attempt: 1}.failed(schemas.ClassDuplicate, schemas.StageReadManifest,
			"the same clip (uri, span and sampling) as manifest row "+strconv.FormatInt(all[0].Index, 10)+"; it is exported once"))
	}
	emit(Work{Row: all[0], ClipID: id, Attempt: 1})
}

// EmbedClips decodes and samples each clip as prep does (deadline, failure classes) and runs
// the model on it, unless its group is committed already or it is an ok row of a group
// --retry-failed redoes (the group's writer copies those from the earlier shard).
func EmbedClips(s beam.Scope, p Plan, work beam.PCollection) beam.PCollection {
	s = s.Scope("EmbedClips")
	return beam.ParDo(s, &embedClipFn{Plan: p}, work)
}

type embedClipFn struct {
	Plan Plan

	store                                   storage.Store
	mu                                      sync.Mutex
	groups                                  map[int64]groupPlan // a worker's decisions (small: no rows)
	computed, reused, failed, retried, pads beam.Counter
}

func (f *embedClipFn) Setup(ctx context.Context) error {
	f.computed = beam.NewCounter(Namespace, "clips_computed")
	f.reused = beam.NewCounter(Namespace, "clips_already_committed")
	f.failed = beam.NewCounter(Namespace, "decode_failed")
	f.retried = beam.NewCounter(Namespace, "failures_retried")
	f.pads = beam.NewCounter(Namespace, "frames_padded")
	f.groups = map[int64]groupPlan{}
	var err error
	f.store, err = openOutput(ctx, f.Plan)
	return err
}

func (f *embedClipFn) Teardown() {
	if f.store != nil {
		f.store.Close()
	}
}

func (f *embedClipFn) group(ctx context.Context, g int64) (groupPlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gp, ok := f.groups[g]; ok {
		return gp, nil
	}
	gp, err := planGroup(ctx, f.store, f.Plan, g)
	if err != nil {
		return gp, err
	}
	f.groups[g] = gp
	return gp, nil
}

func (f *embedClipFn) ProcessElement(ctx context.Context, w Work, item func(int64, Item)) error {
	g := groupOf(f.Plan, w.Row.Index)
	gp, err := f.group(ctx, g)
	if err != nil {
		return err
	}
	if gp.done != nil {
		f.reused.Inc(ctx, 1)
		item(g, Item{Index: w.Row.Index, Kind: ItemCommitted})
		return nil
	}
	old, retried := gp.retry[w.ClipID]
	if gp.prev != nil && !retried { // an ok row of the earlier shard: the writer copies it
		f.reused.Inc(ctx, 1)
		item(g, Item{Index: w.Row.Index, ClipID: w.ClipID, Kind: ItemKept})
		return nil
	}
	if retried {
		f.retried.Inc(ctx, 1)
		w.Attempt = old.Attempt + 1
	}
	c, err := video.SampleEntry(ctx, w.Row.URI, w.Row.Image, f.Plan.Sampling.For(w.ClipID, w.Row.Start, w.Row.End))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the job is being cancelled: not the video's fault
		}
		class := video.FailureClass(err)
		f.failed.Inc(ctx, 1)
		beam.NewCounter(Namespace, "failed_"+string(class)).Inc(ctx, 1)
		item(g, w.failed(class, schemas.StageDecode, err.Error()))
		return nil
	}
	f.pads.Inc(ctx, int64(c.Padded))
	row := schemas.ClipRow{
		ClipID: w.ClipID, SourceURI: w.Row.URI, SpanStartS: w.Row.Start, SpanEndS: video.SpanEnd(w.Row.Start, w.Row.End, c.TimeS),
		Caption: w.Row.Caption, Label: w.Row.Label, ExtraCaptions: w.Row.ExtraCaptions,
		FramePTS: c.PTS, FrameTimeS: c.TimeS, Frames: c.Frames, PaddedFrames: int32(c.Padded), DamagedFrames: int32(c.Damaged),
	}
	e, err := getEmbedder(ctx, f.Plan)
	if err != nil {
		return err // a model that cannot load fails the job: every clip would fail
	}
	defer putEmbedder(f.Plan, e)
	out, err := e.Embed(row)
	if err != nil {
		return err
	}
	f.computed.Inc(ctx, 1)
	item(g, Item{Index: w.Row.Index, Kind: ItemRow, Row: out})
	return nil
}

// WriteGroups writes each group's rows, in manifest order, as its shard and its failures as its
// failures file; a group an earlier run committed is read back instead.
func WriteGroups(s beam.Scope, p Plan, items beam.PCollection) beam.PCollection {
	s = s.Scope("WriteGroups")
	return beam.ParDo(s, &writeGroupFn{Plan: p}, beam.GroupByKey(s, items))
}

type writeGroupFn struct {
	Plan  Plan
	store storage.Store
}

func (f *writeGroupFn) Setup(ctx context.Context) error {
	var err error
	f.store, err = openOutput(ctx, f.Plan)
	return err
}

func (f *writeGroupFn) Teardown() {
	if f.store != nil {
		f.store.Close()
	}
}

func (f *writeGroupFn) ProcessElement(ctx context.Context, g int64, iter func(*Item) bool, emit func(Result)) error {
	gp, err := planGroup(ctx, f.store, f.Plan, g)
	if err != nil {
		return err
	}
	if gp.done != nil {
		if f.Plan.NPY {
			if err := ensureNPY(ctx, f.store, f.Plan, *gp.done); err != nil {
				return err
			}
		}
		emit(*gp.done)
		return nil
	}
	var items []Item
	var it Item
	for iter(&it) {
		items = append(items, it)
		it = Item{}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Index < items[j].Index })
	kept, err := keptRows(ctx, f.Plan, gp)
	if err != nil {
		return err
	}
	var rows []schemas.EmbeddingRow
	var fails []schemas.FailureRow
	for _, it := range items {
		switch it.Kind {
		case ItemRow:
			rows = append(rows, it.Row)
		case ItemKept:
			r, ok := kept[it.ClipID]
			if !ok {
				return fmt.Errorf("clip %s is neither a row nor a failure of the earlier export's group %d; delete %s and rerun", it.ClipID, g, f.Plan.Output)
			}
			rows = append(rows, r)
		case ItemFailed:
			fails = append(fails, it.Failure)
		default:
			return fmt.Errorf("internal: group %d is not committed but item %d says it is; rerun the command", g, it.Index)
		}
	}
	res, err := writeGroup(ctx, f.store, f.Plan, g, gp.base, rows, fails)
	if err != nil {
		return err
	}
	emit(res)
	return nil
}

func init() {
	for _, t := range []any{manifest.Row{}, Work{}, Item{}, Result{}, schemas.FailureRow{}, schemas.EmbeddingRow{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}
	register.DoFn4x1[context.Context, []byte, func(manifest.Row), func(int64), error](&readManifestFn{})
	register.DoFn4x0[context.Context, manifest.Row, func(string, manifest.Row), func(int64, Item)](&clipIDFn{})
	register.DoFn5x0[context.Context, string, func(*manifest.Row) bool, func(Work), func(int64, Item)](&dedupeFn{})
	register.DoFn3x1[context.Context, Work, func(int64, Item), error](&embedClipFn{})
	register.DoFn4x1[context.Context, int64, func(*Item) bool, func(Result), error](&writeGroupFn{})
	register.Emitter1[manifest.Row]()
	register.Emitter1[int64]()
	register.Emitter2[string, manifest.Row]()
	register.Emitter2[int64, Item]()
	register.Emitter1[Work]()
	register.Iter1[manifest.Row]()
	register.Iter1[Item]()
}
