package prep

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/runners"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/text"
)

// ReportName is the run report written at the dataset root (not part of the index).
const ReportName = "prep-report.json"

// Prepare validates cfg against the runner, makes local paths absolute (workers may run
// elsewhere), reads the teacher's configuration and resolves the dataset's provenance: the
// Plan that Build and Run take.
func Prepare(ctx context.Context, cfg Config) (Plan, error) {
	if err := cfg.Validate(); err != nil {
		return Plan{}, err
	}
	rs := runners.Current(ctx)
	if err := rs.Validate(); err != nil {
		return Plan{}, err
	}
	if cfg.Phase == "" {
		cfg.Phase = PhaseAll
	}
	for _, p := range []*string{&cfg.Manifest, &cfg.Output, &cfg.Teacher, &cfg.Root, &cfg.TeacherConfigFile, &cfg.Tokenizer} {
		if strings.HasPrefix(*p, "hf:") {
			continue
		}
		if *p != "" && !manifest.HasScheme(*p) {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return Plan{}, err
			}
			*p = abs
			if !utf8.ValidString(abs) { // the plan travels as JSON, which holds only UTF-8: keep the bytes as a URI
				*p = manifest.FileURI(abs)
			}
		}
	}
	cfg.TeacherName = manifest.EscapeInvalid(cfg.TeacherName)
	if !rs.LocalWorkers() {
		remote := map[string]string{"--output": cfg.Output}
		if cfg.Phase != PhaseFrames {
			remote["--teacher"] = cfg.Teacher
		}
		if cfg.Phase == PhaseTeacher {
			remote["--input"] = cfg.Manifest
		}
		for name, p := range remote {
			if storage.IsLocal(p) {
				return Plan{}, fmt.Errorf("%s=%s is a local path, but --runner=%s runs workers on other machines; put it on gs://", name, p, rs.Runner)
			}
		}
		if !manifest.HasScheme(cfg.Manifest) || strings.HasPrefix(cfg.Manifest, "file://") {
			return Plan{}, fmt.Errorf("--input=%s is a local path, but remote workers read the manifest; put it on gs:// or https://", cfg.Manifest)
		}
	}
	plan := Plan{Config: cfg}
	switch cfg.Phase {
	case PhaseFrames:
		plan.Provenance = schemas.Provenance{
			UMTVersion: version(), Sampler: cfg.SamplerString(), Seed: cfg.Seed,
			Layout: schemas.LayoutFrames, Frames: cfg.Frames, Size: cfg.Size,
		}
	case PhaseTeacher:
		if err := adoptFrames(ctx, &plan); err != nil {
			return Plan{}, err
		}
		fallthrough
	default:
		if err := prepareTeacher(ctx, &plan); err != nil {
			return Plan{}, err
		}
	}
	if err := prepareText(ctx, &plan); err != nil {
		return Plan{}, err
	}
	plan.Provenance.SchemaVersion = schemas.ClipSchemaVersion // in the staging and group names: no mixing of versions
	if err := plan.Provenance.Validate(); err != nil {
		return Plan{}, err
	}
	var id [8]byte
	rand.Read(id[:])
	plan.RunID = hex.EncodeToString(id[:])
	return plan, nil
}

// prepareTeacher reads the teacher's configuration (clip.Load's, without building a teacher)
// and fills in the provenance of a dataset with teacher features (one pass, or the teacher
// phase over plan.Input's frames).
func prepareTeacher(ctx context.Context, plan *Plan) error {
	sum, err := teacherSHA256(ctx, plan.Teacher)
	if err != nil {
		return fmt.Errorf("reading the teacher: %w", err)
	}
	plan.TeacherSHA256 = sum
	path, err := localTeacher(ctx, *plan)
	if err != nil {
		return err
	}
	_, tc, err := clip.Load(ctx, path, clip.LoadOptions{Config: plan.TeacherConfig, ConfigFile: plan.TeacherConfigFile})
	if err != nil {
		return fmt.Errorf("loading the teacher %s: %w", path, err)
	}
	plan.TeacherConfig = tc
	if _, err := clip.StudentPatch(plan.Size, tc.Resolution, tc.Patch); plan.Size > 0 && err != nil {
		return err // before a single video is decoded: no student could train on the dataset
	}
	plan.TeacherLayers = int32s(tc.ReturnIndices())
	lay, _ := schemas.ParseLayout(plan.Layout)
	name := plan.TeacherName
	if name == "" {
		name = filepath.Base(plan.Teacher)
	}
	plan.Provenance = schemas.Provenance{
		UMTVersion: version(), Teacher: name, TeacherSHA256: sum, Resolution: tc.Resolution,
		Normalisation: fmt.Sprintf("mean=%v std=%v", tc.Mean, tc.Std),
		Sampler:       plan.SamplerString(), Seed: plan.Seed,
		Layout: lay.String(), Precision: schemas.PrecisionF16, MaskRatio: plan.MaskRatio, Masks: lay.M,
		Frames: plan.Frames, Size: plan.Size, K: len(plan.TeacherLayers), HW: tc.Tokens(), D: tc.OutputDim,
	}
	if plan.Phase == PhaseTeacher { // the frames were sampled by the first phase: its settings hold
		plan.Provenance.Sampler = plan.Input.Sampler
		plan.Provenance.Extra = map[string]string{"frames_dataset": plan.Manifest}
	}
	return nil
}

// prepareText reads the tokenizer's vocabulary into the plan and names it in the provenance.
// The teacher phase tokenizes nothing: its rows keep the frames dataset's tokens, so it takes
// that dataset's tokenizer.
func prepareText(ctx context.Context, plan *Plan) error {
	if plan.Phase == PhaseTeacher {
		if plan.Tokenizer != "" {
			return fmt.Errorf("--tokenizer: the teacher phase keeps the frames dataset's caption tokens; tokenize in the frames phase (--phase=frames --tokenizer %s)", plan.Tokenizer)
		}
		plan.Provenance.Text = plan.Input.Text
		return nil
	}
	if plan.Tokenizer == "" {
		return nil
	}
	v, err := text.LoadVocab(ctx, plan.Tokenizer, text.VocabOptions{Hub: &weights.Hub{}})
	if err != nil {
		return fmt.Errorf("--tokenizer: %w", err)
	}
	plan.Vocab = v.Bytes()
	plan.Provenance.Text = &schemas.TextProvenance{
		Tokenizer: plan.Tokenizer, VocabSHA256: v.SHA256(), VocabSize: v.Size(), MaxLen: plan.MaxTextLen, PreText: plan.PreText,
	}
	return nil
}

// Run runs plan's pipeline on the runner the flags choose and writes the run report next to
// the dataset.
func Run(ctx context.Context, plan Plan) (*Report, error) {
	if plan.RunID == "" {
		return nil, errors.New("prep.Run: the plan was not made by Prepare")
	}
	start := time.Now()
	defer releasePrevious(plan.RunID)
	runners.Init()
	p, s := beam.NewPipelineWithRoot()
	Build(s, plan)
	res, err := runners.Run(ctx, p)
	if err != nil {
		return nil, err
	}
	rep, err := NewReport(ctx, plan, res, time.Since(start))
	if err != nil {
		return nil, err
	}
	return rep, rep.Write(ctx)
}

// Report is the run report: what the job did, read back from the committed dataset (counts)
// and from the runner's metrics (timings).
type Report struct {
	Dataset  string `json:"dataset"`
	Manifest string `json:"manifest"`
	Runner   string `json:"runner"`
	JobID    string `json:"job_id,omitempty"`
	Phase    string `json:"phase"` // all, frames or teacher (Manifest is then the frames dataset)

	Rows          int64                          `json:"manifest_rows"`
	OK            int64                          `json:"ok"`
	Failed        int64                          `json:"failed"`
	Accounted     bool                           `json:"ok_plus_failed_equals_rows"`
	FailedByClass map[schemas.FailureClass]int64 `json:"failed_by_class"`
	// Captions and labels that were not UTF-8 and were kept with U+FFFD for each such byte.
	TextRows  int64 `json:"rows_with_replaced_text"`
	TextBytes int64 `json:"text_bytes_replaced"`

	Shards    int   `json:"shards"`
	Bytes     int64 `json:"bytes"`
	Committed int64 `json:"clips_already_committed"`
	Restaged  int64 `json:"clips_resumed_from_staging"`
	Computed  int64 `json:"clips_computed"`

	WallS         float64 `json:"wall_s"`
	ClipsPerS     float64 `json:"clips_per_s"`
	DecodeMSMean  float64 `json:"decode_ms_per_clip_mean"`
	TeacherMSMean float64 `json:"teacher_ms_per_clip_mean"`

	// Frames written as copies of a neighbour (--on-missing=pad), damaged frames written
	// (--on-corrupt=keep), and damaged frames decoded on the way to a target that no target
	// took (warnings), over the clips this run computed.
	PaddedFrames   int64 `json:"frames_padded"`
	DamagedFrames  int64 `json:"frames_damaged"`
	DamagedSkipped int64 `json:"damaged_frames_skipped"`

	Counters      map[string]int64                `json:"counters"`
	Distributions map[string]runners.Distribution `json:"distributions"`
}

// Counters of the decode step behind the report's frame counts.
const (
	CounterFramesPadded   = "frames_padded"
	CounterFramesDamaged  = "frames_damaged"
	CounterDamagedSkipped = "damaged_frames_skipped"
)

// NewReport reads the committed dataset and the job's metrics.
func NewReport(ctx context.Context, cfg Plan, res *runners.Result, wall time.Duration) (*Report, error) {
	ds, err := shard.Open(ctx, cfg.Output)
	if err != nil {
		return nil, fmt.Errorf("the job finished but its dataset cannot be opened: %w", err)
	}
	defer ds.Close()
	idx := ds.Index()
	fails, err := ds.Failures(ctx)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Dataset: cfg.Output, Manifest: cfg.Manifest, Runner: res.Runner, JobID: res.JobID, Phase: cfg.Phase,
		Rows: res.Counter(Namespace, "manifest_rows"), OK: idx.Rows, Failed: idx.FailureRows,
		FailedByClass: map[schemas.FailureClass]int64{}, Shards: len(idx.Shards), Bytes: idx.Bytes,
		Committed:    res.Counter(Namespace, "clips_already_committed"),
		Restaged:     res.Counter(Namespace, "clips_resumed_from_staging"),
		Computed:     res.Counter(Namespace, "clips_staged"),
		WallS:        wall.Seconds(),
		PaddedFrames: res.Counter(Namespace, CounterFramesPadded), DamagedFrames: res.Counter(Namespace, CounterFramesDamaged),
		DamagedSkipped: res.Counter(Namespace, CounterDamagedSkipped),
		TextRows:       res.Counter(Namespace, CounterTextRows), TextBytes: res.Counter(Namespace, CounterTextBytes),
		Counters: map[string]int64{}, Distributions: map[string]runners.Distribution{},
	}
	for _, f := range fails {
		r.FailedByClass[f.ErrorClass]++
	}
	r.Accounted = r.OK+r.Failed == r.Rows
	if r.WallS > 0 {
		r.ClipsPerS = float64(r.Computed) / r.WallS
	}
	r.DecodeMSMean = res.Dist(Namespace, "decode_ms_per_clip").Mean()
	r.TeacherMSMean = res.Dist(Namespace, "teacher_ms_per_clip").Mean()
	for _, k := range res.Names(Namespace) {
		short := strings.TrimPrefix(k, Namespace+"/")
		if v, ok := res.Counters[k]; ok {
			r.Counters[short] = v
		}
		if v, ok := res.Distributions[k]; ok {
			r.Distributions[short] = v
		}
	}
	if !r.Accounted {
		return r, fmt.Errorf("the dataset holds %d clips and %d failures for %d manifest rows", r.OK, r.Failed, r.Rows)
	}
	return r, nil
}

// Write stores the report as JSON at the dataset root (ReportName).
func (r *Report) Write(ctx context.Context) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	return storage.WriteFile(ctx, storage.Join(r.Dataset, ReportName), append(b, '\n'))
}

// Summary is the human-readable report.
func (r *Report) Summary() string {
	var b strings.Builder
	what := "manifest rows"
	switch r.Phase {
	case PhaseFrames:
		what = "manifest rows (frames phase: no teacher)"
	case PhaseTeacher:
		what = "rows of the frames dataset (teacher phase)"
	}
	fmt.Fprintf(&b, "prep: %d %s → %d clips ok, %d failed", r.Rows, what, r.OK, r.Failed)
	if r.Accounted {
		b.WriteString(" (ok + failed = rows ✓)\n")
	} else {
		b.WriteString(" (ok + failed ≠ rows ✗)\n")
	}
	if len(r.FailedByClass) > 0 {
		b.WriteString("  failures by class:")
		for _, c := range slices.Sorted(maps.Keys(r.FailedByClass)) {
			fmt.Fprintf(&b, " %s=%d", c, r.FailedByClass[c])
		}
		b.WriteString("\n")
	}
	if r.TextRows > 0 {
		fmt.Fprintf(&b, "  %d rows kept with U+FFFD for %d caption/label bytes that were not UTF-8 (--on-bad-text=fail fails them instead)\n", r.TextRows, r.TextBytes)
	}
	fmt.Fprintf(&b, "  computed %d clips, reused %d staged and %d committed\n", r.Computed, r.Restaged, r.Committed)
	if r.PaddedFrames+r.DamagedFrames+r.DamagedSkipped > 0 {
		fmt.Fprintf(&b, "  frames: %d padded (--on-missing=pad), %d damaged kept (--on-corrupt=keep); warnings: %d damaged frames decoded but not sampled\n", r.PaddedFrames, r.DamagedFrames, r.DamagedSkipped)
	}
	fmt.Fprintf(&b, "  %d shards, %.1f MB in %s\n", r.Shards, float64(r.Bytes)/1e6, r.Dataset)
	fmt.Fprintf(&b, "  %.1f s wall, %.2f clips/s", r.WallS, r.ClipsPerS)
	switch r.Phase {
	case PhaseFrames:
		fmt.Fprintf(&b, "; decode %.0f ms/clip (mean)\n", r.DecodeMSMean)
	case PhaseTeacher:
		fmt.Fprintf(&b, "; teacher %.0f ms/clip (mean)\n", r.TeacherMSMean)
	default:
		fmt.Fprintf(&b, "; decode %.0f ms/clip, teacher %.0f ms/clip (mean)\n", r.DecodeMSMean, r.TeacherMSMean)
	}
	fmt.Fprintf(&b, "  runner %s, report %s\n", r.Runner, storage.Join(r.Dataset, ReportName))
	return b.String()
}

// teacherSHA256 hashes the teacher's weights file: the file itself, a model directory's
// model.safetensors, or for hf:NAME the spec (the hub fetch verifies the file's checksum).
func teacherSHA256(ctx context.Context, spec string) (string, error) {
	if strings.HasPrefix(spec, "hf:") {
		h := sha256.Sum256([]byte(spec))
		return hex.EncodeToString(h[:]), nil
	}
	if p, err := storage.LocalPath(spec); err == nil {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			spec = filepath.Join(p, "model.safetensors")
		}
	}
	return fileSHA256(ctx, spec)
}

// fileSHA256 hashes a file at any URI storage opens.
func fileSHA256(ctx context.Context, uri string) (string, error) { return storage.FileSHA256(ctx, uri) }

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
