package prep

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/masks"
	"github.com/umt-dev/umt/transforms/storage"
)

// Teach runs the teacher on decoded clips in batches of cfg.BatchClips gathered across a
// bundle, selects the stored tokens per layout, and stages each finished row.
func Teach(s beam.Scope, cfg Plan, decoded beam.PCollection) beam.PCollection {
	s = s.Scope("Teach")
	return beam.ParDo(s, &teacherFn{Cfg: cfg}, decoded)
}

// teacherFn batches clips across a bundle. It holds no state between bundles except a teacher
// borrowed from a per-process pool (no stateful DoFn: prism may split bundles dynamically).
type teacherFn struct {
	Cfg Plan

	store     storage.Store
	teacher   *pooledTeacher
	pending   []Decoded
	teacherMS beam.Distribution
	batches   beam.Distribution
	ok        beam.Counter
	failed    beam.Counter
}

func (f *teacherFn) Setup(ctx context.Context) error {
	f.teacherMS = beam.NewDistribution(Namespace, "teacher_ms_per_clip")
	f.batches = beam.NewDistribution(Namespace, "teacher_batch_clips")
	f.ok = beam.NewCounter(Namespace, "clips_staged")
	f.failed = beam.NewCounter(Namespace, "teacher_failed")
	st, err := storage.OpenStore(ctx, f.Cfg.Output)
	if err != nil {
		return fmt.Errorf("opening the output %s: %w", f.Cfg.Output, err)
	}
	f.store = st
	return nil
}

// Teardown closes the output store Setup opened (its GCS client, when the output is gs://).
func (f *teacherFn) Teardown() {
	if f.store != nil {
		f.store.Close()
	}
}

func (f *teacherFn) StartBundle(ctx context.Context, _ func(int64, Item)) error {
	f.pending = f.pending[:0]
	return nil
}

func (f *teacherFn) ProcessElement(ctx context.Context, d Decoded, item func(int64, Item)) error {
	f.pending = append(f.pending, d)
	if len(f.pending) >= f.Cfg.BatchClips {
		return f.flush(ctx, item)
	}
	return nil
}

func (f *teacherFn) FinishBundle(ctx context.Context, item func(int64, Item)) error {
	err := f.flush(ctx, item)
	if f.teacher != nil {
		teachers.put(f.Cfg, f.teacher)
		f.teacher = nil
	}
	return err
}

// flush runs the teacher on the pending clips and stages their rows.
func (f *teacherFn) flush(ctx context.Context, item func(int64, Item)) error {
	if len(f.pending) == 0 {
		return nil
	}
	batch := f.pending
	f.pending = nil
	if f.teacher == nil {
		t, err := teachers.get(ctx, f.Cfg)
		if err != nil {
			return err // a teacher that cannot load fails the job: every clip would fail
		}
		f.teacher = t
	}
	for lo := 0; lo < len(batch); lo += f.teacher.slots {
		if err := f.encode(ctx, batch[lo:min(lo+f.teacher.slots, len(batch))], item); err != nil {
			return err
		}
	}
	return nil
}

// encode runs one teacher call over part (at most slots clips) in the fixed shape of slots
// clips, zero clips filling the free slots. A GEMM's rounding may depend on its row count
// (OpenBLAS takes its small-matrix kernels below a size, cuBLASLt picks algorithms by shape),
// so calls of one shape are what make a clip's features independent of which clips the runner
// happened to bundle with it: a resumed or re-bundled run writes the same bytes.
func (f *teacherFn) encode(ctx context.Context, part []Decoded, item func(int64, Item)) error {
	p := f.Cfg.Provenance
	B, T, S := f.teacher.slots, p.Frames, p.Size
	frames := make([]byte, B*p.FrameBytes())
	for i, d := range part {
		copy(frames[i*p.FrameBytes():], d.Frames)
	}
	start := time.Now()
	feats, attn, err := f.teacher.t.Encode(frames, B, T, S, S)
	if err != nil {
		for _, d := range part {
			f.fail(ctx, d, err.Error(), item)
		}
		return nil
	}
	perClip := time.Since(start).Milliseconds() / int64(len(part))
	rows := newRowMaker(f.Cfg)
	f.batches.Update(ctx, int64(len(part)))
	for b, d := range part {
		f.teacherMS.Update(ctx, perClip)
		row, err := rows.row(d, b, rows.features(feats, B), attn)
		if err != nil {
			f.fail(ctx, d, err.Error(), item)
			continue
		}
		if err := stageRow(ctx, f.store, f.Cfg, row); err != nil {
			return fmt.Errorf("staging clip %s: %w", d.Work.ClipID, err) // storage trouble: retry the bundle
		}
		f.ok.Inc(ctx, 1)
		progress.done.Add(1)
		item(groupOf(d.Work.Row.Index, f.Cfg.GroupClips), d.Work.staged())
	}
	return nil
}

// fail records a clip the teacher could not take.
func (f *teacherFn) fail(ctx context.Context, d Decoded, msg string, item func(int64, Item)) {
	f.failed.Inc(ctx, 1)
	progress.done.Add(1)
	progress.failed.Add(1)
	item(groupOf(d.Work.Row.Index, f.Cfg.GroupClips), d.Work.failed(schemas.ClassTeacher, schemas.StageTeacher, msg))
}

// rowMaker turns the teacher's outputs into dataset rows of one configuration.
type rowMaker struct {
	prov   schemas.Provenance
	layers []int32
	sel    masks.Selector
}

func newRowMaker(c Plan) rowMaker {
	p := c.Provenance
	lay, _ := schemas.ParseLayout(p.Layout) // validated with the provenance
	m := 0
	if lay.Visible {
		m = lay.M
	}
	return rowMaker{prov: p, layers: c.TeacherLayers, sel: masks.Selector{
		Frames: p.Frames, HW: p.HW, Masks: m, Ratio: p.MaskRatio, Seed: uint64(c.Seed),
	}}
}

// row cuts clip b out of a teacher call's outputs (feats [K, B, T·HW, D], attn [B·T, HW]) and
// keeps the tokens the layout stores.
func (m rowMaker) row(d Decoded, b int, feats masks.Features, attn []float32) (schemas.ClipRow, error) {
	n := m.prov.Frames * m.prov.HW
	if (b+1)*n > len(attn) {
		return schemas.ClipRow{}, fmt.Errorf("the teacher returned attention for %d tokens, clip %d needs %d", len(attn), b, (b+1)*n)
	}
	clipAttn := attn[b*n : (b+1)*n]
	chosen, err := m.sel.Select(d.Work.ClipID, clipAttn)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	kept, err := chosen.Gather(feats, b)
	if err != nil {
		return schemas.ClipRow{}, err
	}
	row := clipBase(d)
	row.TeacherLayers = m.layers
	row.TeacherTokens = int32s(chosen.Tokens)
	row.TeacherFeatures = schemas.F16Bits(nil, kept)
	row.TeacherCLSAttn = schemas.F16Bits(nil, clipAttn)
	row.Masks = chosen.Masks
	return row, row.Validate(m.prov)
}

// one is row for a call of one clip.
func (m rowMaker) one(d Decoded, feats, attn []float32) (schemas.ClipRow, error) {
	return m.row(d, 0, m.features(feats, 1), attn)
}

// features describes the teacher's output feats for a call of B clips.
func (m rowMaker) features(feats []float32, B int) masks.Features {
	return masks.Features{Data: feats, Layers: m.prov.K, Clips: B, Tokens: m.prov.Frames * m.prov.HW, Dim: m.prov.D}
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// pooledTeacher is a loaded teacher and the clips per call it always runs (see encode): one on
// the CPU, where a clip of T frames already makes large GEMMs and padding would waste work;
// BatchClips on a GPU, which needs the larger calls to be busy.
type pooledTeacher struct {
	t     *clip.Teacher
	slots int
	dev   *kernels.Device
}

// teacherPool keeps loaded teachers for reuse across bundles in this process; a Teacher is
// not safe for concurrent use, so each bundle borrows its own.
type teacherPool struct {
	mu   sync.Mutex
	free map[string][]*pooledTeacher
}

var teachers teacherPool

func poolKey(c Plan) string {
	b, _ := json.Marshal(struct {
		W string
		C clip.Config
		M int
		T int
		S int
		V string
		G bool
	}{c.TeacherSHA256 + c.Teacher, c.TeacherConfig, c.BatchClips * c.Frames, c.Workers, teacherSlots, c.Device, teacherPureGo})
	return string(b)
}

func (p *teacherPool) get(ctx context.Context, c Plan) (*pooledTeacher, error) {
	k := poolKey(c)
	p.mu.Lock()
	if n := len(p.free[k]); n > 0 {
		t := p.free[k][n-1]
		p.free[k] = p.free[k][:n-1]
		p.mu.Unlock()
		return t, nil
	}
	p.mu.Unlock()
	path, err := localTeacher(ctx, c)
	if err != nil {
		return nil, err
	}
	dev, err := teacherBackend(c.Device, c.Workers)
	if err != nil {
		return nil, err
	}
	slots := c.BatchClips
	if dev.Kind == kernels.KindCPU {
		slots = 1
	}
	if teacherSlots > 0 {
		slots = teacherSlots
	}
	t, _, err := loadTeacherOn(dev.Backend, path, c.TeacherConfigFile, c.TeacherConfig, slots*c.Frames)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return &pooledTeacher{t: t, slots: slots, dev: dev}, nil
}

// teacherSlots, when positive, overrides the clips per teacher call (tests of the padded path).
var teacherSlots int

// teacherPureGo makes CPU teachers use the pure-Go GEMM (tests of the padded path): its bits do
// not depend on a row's position in the matrix, whereas OpenBLAS picks kernels by CPU and, on
// some (AVX-512 Zen 4), rounds rows at different positions differently; that is why the CPU path
// runs one clip per call.
var teacherPureGo bool

func (p *teacherPool) put(c Plan, t *pooledTeacher) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = map[string][]*pooledTeacher{}
	}
	p.free[poolKey(c)] = append(p.free[poolKey(c)], t)
}

// loadTeacher loads a teacher from a --teacher spec (a safetensors file, a Hugging Face model
// directory or hf:NAME) on the backend device names (see Config.Device); cfg's zero fields come
// from the weights.
func loadTeacher(spec, configFile string, cfg clip.Config, maxFrames, threads int, device string) (*clip.Teacher, clip.Config, error) {
	d, err := teacherBackend(device, threads)
	if err != nil {
		return nil, clip.Config{}, err
	}
	return loadTeacherOn(d.Backend, spec, configFile, cfg, maxFrames)
}

// loadTeacherOn loads a teacher onto the backend be.
func loadTeacherOn(be kernels.Backend, spec, configFile string, cfg clip.Config, maxFrames int) (*clip.Teacher, clip.Config, error) {
	w, full, err := clip.Load(context.Background(), spec, clip.LoadOptions{Config: cfg, ConfigFile: configFile})
	if err != nil {
		return nil, clip.Config{}, fmt.Errorf("loading the teacher %s: %w", spec, err)
	}
	t, err := clip.New(be, full, w, clip.Options{MaxFrames: max(maxFrames, 1)})
	if err != nil {
		return nil, clip.Config{}, fmt.Errorf("building the teacher: %w", err)
	}
	return t, full, nil
}

// teacherBackend opens the teacher's backend with kernels.Open (see Config.Device; "" is the
// CPU) with threads host threads per operation, and logs which backend and why. The GPU runs
// float32 GEMMs, so features match the CPU reference within float32 rounding.
func teacherBackend(device string, threads int) (*kernels.Device, error) {
	if device == "" {
		device = kernels.KindCPU
	}
	d, err := kernels.Open(device, kernels.Options{Threads: threads, PureGo: teacherPureGo})
	if err != nil {
		return nil, fmt.Errorf("choosing the teacher's device: %w", err)
	}
	slog.Info("prep: teacher backend", "device", device, "backend", d.Reason)
	return d, nil
}

func init() {
	register.DoFn3x1[context.Context, Decoded, func(int64, Item), error](&teacherFn{})
}
