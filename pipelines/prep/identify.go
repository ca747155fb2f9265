package prep

import (
	"context"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
)

// Counters of captions and labels that were not UTF-8 (--on-bad-text=replace).
const (
	CounterTextRows  = "rows_with_replaced_text"
	CounterTextBytes = "text_bytes_replaced"
)

// Identify gives every usable row its clip id and sends each clip id's first row on to be
// decoded, unless an earlier run committed it (or recorded its failure, without
// --retry-failed). Malformed rows and duplicates come back as failure items, keyed by group.
func Identify(s beam.Scope, cfg Plan, rows beam.PCollection) (work, items beam.PCollection) {
	s = s.Scope("Identify")
	byID, bad := beam.ParDo2(s, &clipIDFn{Cfg: cfg}, rows)
	grouped := beam.GroupByKey(s, byID)
	work, dupItems := beam.ParDo2(s, &dedupeFn{Cfg: cfg}, grouped)
	return beam.Reshuffle(s, work), beam.Flatten(s, bad, dupItems)
}

// clipIDFn keys rows by clip id; malformed rows become failure items, and so do rows whose text
// was not UTF-8 when --on-bad-text=fail (else they go on with U+FFFD, counted).
type clipIDFn struct {
	Cfg               Plan
	badRows, badBytes beam.Counter
}

func (f *clipIDFn) Setup() {
	f.badRows = beam.NewCounter(Namespace, CounterTextRows)
	f.badBytes = beam.NewCounter(Namespace, CounterTextBytes)
}

func (f *clipIDFn) ProcessElement(ctx context.Context, r manifest.Row, emit func(string, manifest.Row), fail func(int64, Item)) {
	g := groupOf(r.Index, f.Cfg.GroupClips)
	if r.Err != "" {
		if r.URI == "" { // name the manifest row, so the failure says where to look
			r.URI = f.Cfg.Manifest + "#row=" + itoa(r.Index)
		}
		fail(g, Work{Row: r, Attempt: 1}.failed(schemas.ClassManifest, schemas.StageReadManifest, r.Err))
		return
	}
	id := schemas.ClipID(r.URI, r.Start, r.End, f.Cfg.SamplerString())
	if r.TextReplaced > 0 {
		if f.Cfg.OnBadText == BadTextFail {
			fail(g, Work{Row: r, ClipID: id, Attempt: 1}.failed(schemas.ClassBadText, schemas.StageReadManifest,
				r.BadText+"; pass --on-bad-text=replace (and --retry-failed over this dataset) to keep the row with U+FFFD in their place"))
			return
		}
		f.badRows.Inc(ctx, 1)
		f.badBytes.Inc(ctx, int64(r.TextReplaced))
	}
	emit(id, r)
}

// dedupeFn keeps the first row of each clip id and checks it against the earlier dataset.
type dedupeFn struct {
	Cfg    Plan
	resume resumer
	dups   beam.Counter
}

func (f *dedupeFn) Setup(ctx context.Context) error {
	f.dups = beam.NewCounter(Namespace, "duplicates")
	var err error
	f.resume, err = newResumer(ctx, f.Cfg)
	return err
}

func (f *dedupeFn) ProcessElement(ctx context.Context, id string, rows func(*manifest.Row) bool, emit func(Work), item func(int64, Item)) {
	var all []manifest.Row
	var r manifest.Row
	for rows(&r) {
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Index < all[j].Index })
	first := all[0]
	for _, d := range all[1:] {
		f.dups.Inc(ctx, 1)
		item(groupOf(d.Index, f.Cfg.GroupClips), Work{Row: d, ClipID: id, Attempt: 1}.failed(schemas.ClassDuplicate, schemas.StageReadManifest,
			"the same clip (uri, span and sampler) as manifest row "+itoa(first.Index)+"; it is stored once (give several captions of one clip as a caption list in one entry)"))
	}
	w := Work{Row: first, ClipID: id, Attempt: 1}
	if f.resume.settled(ctx, &w, anyFailure, item) {
		return
	}
	emit(w)
}

func init() {
	register.DoFn4x0[context.Context, manifest.Row, func(string, manifest.Row), func(int64, Item)](&clipIDFn{})
	register.DoFn5x0[context.Context, string, func(*manifest.Row) bool, func(Work), func(int64, Item)](&dedupeFn{})
	register.Emitter2[string, manifest.Row]()
	register.Emitter2[int64, Item]()
	register.Emitter1[Work]()
	register.Iter1[manifest.Row]()
}
