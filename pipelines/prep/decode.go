package prep

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/text"
	"github.com/umt-dev/umt/transforms/video"
)

// Decode samples each clip's frames. Clips whose finished row an interrupted run already
// staged skip decoding and come out as items; bad videos come out as failure items.
func Decode(s beam.Scope, cfg Plan, work beam.PCollection) (decoded, items beam.PCollection) {
	s = s.Scope("Decode")
	return beam.ParDo2(s, &decodeFn{Cfg: cfg}, work)
}

// decodeFn wraps video.Sample.
type decodeFn struct {
	Cfg Plan

	store     storage.Store
	staged    beam.Counter
	frames    beam.Counter
	bytes     beam.Counter
	failed    beam.Counter
	padded    beam.Counter
	damaged   beam.Counter
	warned    beam.Counter
	decodeMS  beam.Distribution
	decodeFPS beam.Distribution
	tokenizer *text.Tokenizer // nil when the dataset stores no caption tokens
}

func (f *decodeFn) Setup(ctx context.Context) error {
	f.staged = beam.NewCounter(Namespace, "clips_resumed_from_staging")
	f.frames = beam.NewCounter(Namespace, "frames")
	f.bytes = beam.NewCounter(Namespace, "frame_bytes")
	f.failed = beam.NewCounter(Namespace, "decode_failed")
	f.padded = beam.NewCounter(Namespace, CounterFramesPadded)
	f.damaged = beam.NewCounter(Namespace, CounterFramesDamaged)
	f.warned = beam.NewCounter(Namespace, CounterDamagedSkipped)
	f.decodeMS = beam.NewDistribution(Namespace, "decode_ms_per_clip")
	f.decodeFPS = beam.NewDistribution(Namespace, "frames_decoded_per_clip")
	st, err := storage.OpenStore(ctx, f.Cfg.Output)
	if err != nil {
		return fmt.Errorf("opening the output %s: %w", f.Cfg.Output, err)
	}
	f.store = st
	f.tokenizer, err = f.Cfg.tokenizer()
	return err
}

func (f *decodeFn) Teardown() {
	if f.store != nil {
		f.store.Close()
	}
}

func (f *decodeFn) ProcessElement(ctx context.Context, w Work, emit func(Decoded), item func(int64, Item)) error {
	g := groupOf(w.Row.Index, f.Cfg.GroupClips)
	if done, err := alreadyStaged(ctx, f.store, f.Cfg, w, f.staged, item); done || err != nil {
		return err
	}
	fail := func(class schemas.FailureClass, stage schemas.Stage, msg string) {
		f.failed.Inc(ctx, 1)
		beam.NewCounter(Namespace, "failed_"+string(class)).Inc(ctx, 1)
		progress.done.Add(1)
		progress.failed.Add(1)
		item(g, w.failed(class, stage, msg))
	}
	start := time.Now()
	c, err := video.SampleEntry(ctx, w.Row.URI, w.Row.Image, f.Cfg.SampleConfig(w.ClipID, w.Row.Start, w.Row.End))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the job is being cancelled: not the video's fault
		}
		fail(video.FailureClass(err), schemas.StageDecode, err.Error())
		return nil
	}
	// video.Sample already failed a clip whose sampled frames are damaged (--on-corrupt=fail) or
	// have no frame (--on-missing=fail); what it let through is counted here.
	f.padded.Inc(ctx, int64(c.Padded))
	f.damaged.Inc(ctx, int64(c.Damaged))
	f.warned.Inc(ctx, int64(c.DamagedSkipped))
	f.decodeMS.Update(ctx, time.Since(start).Milliseconds())
	f.decodeFPS.Update(ctx, int64(c.FramesDecoded))
	f.frames.Inc(ctx, int64(len(c.PTS)))
	f.bytes.Inc(ctx, int64(len(c.Frames)))
	d := Decoded{Work: w, Frames: c.Frames, FramePTS: c.PTS, FrameTimeS: c.TimeS, Padded: int32(c.Padded), Damaged: int32(c.Damaged)}
	if t := f.Cfg.Provenance.Text; t != nil {
		d.CaptionIDs, d.CaptionMsk = f.tokenizer.Captions(captions(w.Row), t.MaxLen, t.PreText)
	}
	emit(d)
	return nil
}

// alreadyStaged reports whether an interrupted run staged w's finished row; if so it sends the
// row's item on (counting it in staged), so the clip is neither decoded nor taught again.
func alreadyStaged(ctx context.Context, st storage.Store, c Plan, w Work, staged beam.Counter, item func(int64, Item)) (bool, error) {
	ok, err := st.Exists(ctx, stagingName(c, w.ClipID))
	if err != nil {
		return false, fmt.Errorf("checking staged clip %s: %w", w.ClipID, err) // transient: let the runner retry the bundle
	}
	if ok {
		staged.Inc(ctx, 1)
		progress.done.Add(1)
		item(groupOf(w.Row.Index, c.GroupClips), w.staged())
	}
	return ok, nil
}

// captions are a manifest row's captions, the first then the rest.
func captions(r manifest.Row) []string {
	if r.Caption == "" {
		return nil
	}
	return append([]string{r.Caption}, r.ExtraCaptions...)
}

func init() {
	register.DoFn4x1[context.Context, Work, func(Decoded), func(int64, Item), error](&decodeFn{})
	register.Emitter1[Decoded]()
}
