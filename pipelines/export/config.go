package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// Models the export runs.
const (
	ModelTeacher = "teacher" // the CLIP teacher's pooled image embedding, mean over frames
	ModelStudent = "student" // a stage-1 student checkpoint: mean-pooled final-norm tokens
	ModelStage2  = "stage2"  // a stage-2 checkpoint: vision_proj per frame and pooled, text_proj per caption
)

// IndexName is the export's index, written last.
const IndexName = "index.json"

// Input kinds: what --input names.
const (
	SourceDataset  = "dataset"  // a committed umt dataset: its stored frames are embedded
	SourceManifest = "manifest" // a manifest of videos and images, decoded and sampled as prep does
)

// --on-bad-text policies for a manifest caption or label that is not UTF-8 (as `umt prep`).
const (
	BadTextReplace = "replace" // keep the row, each invalid byte becomes U+FFFD
	BadTextFail    = "fail"    // fail only that row, as ClassBadText
)

// Config is what the command line sets.
type Config struct {
	Input  string // a committed umt dataset, or a manifest (local, gs:// or https://)
	Output string // the export root (local or gs://)
	Model  string // ModelTeacher, ModelStudent or ModelStage2

	// Manifest input, read and sampled as `umt prep` does (the same flags).
	ManifestFormat string         // --format; "" = from the name (a name that is no manifest's is a dataset)
	Root           string         // --root: prefix of relative video paths; "" = the manifest's directory
	CSVSep         string         // --csv-sep; "" = ','
	Sampling       video.Sampling // --frames, --size, --sampler, --interp, --seed, --on-missing, --on-corrupt, --deadline
	OnBadText      string         // BadTextReplace ("" too) or BadTextFail

	RetryFailed bool // --retry-failed: redo the rows the committed failures table lists
	NPY         bool // --npy: also write the embedding-reader view (emb/*.npy + metadata/*.parquet)

	Teacher           string      // --teacher: safetensors file, HF model directory or hf:NAME
	TeacherConfigFile string      // --teacher-config
	TeacherConfig     clip.Config // shape overrides (zero: from the weights)

	Weights string // --weights: a umt train stage1/stage2 checkpoint root (follows latest) or step directory

	DType      string // element type of the embedding columns: schemas.DTypeFloat32 or DTypeFloat16
	Device     string // kernels.Open spec; "" is the CPU
	Threads    int    // kernel threads (0: all)
	GroupClips int    // input rows per shard
}

// Defaults returns the command line's defaults.
func Defaults() Config {
	return Config{Model: ModelTeacher, DType: schemas.DTypeFloat32, Device: "cpu", GroupClips: 1024, OnBadText: BadTextReplace, Sampling: DefaultSampling()}
}

// DefaultSampling is `umt prep`'s default sampling (UMT's stage-1 clips).
func DefaultSampling() video.Sampling {
	return video.Sampling{Frames: 8, Size: 224, Sampler: video.SamplerMiddle, Interp: "bicubic",
		OnMissing: "fail", OnCorrupt: "fail", Deadline: 2 * time.Minute}
}

// source says what cfg.Input names: a manifest when --format is given or its name has a
// manifest's extension, else a dataset.
func (c Config) source() string {
	if c.ManifestFormat != "" {
		return SourceManifest
	}
	if _, err := manifest.DetectFormat(c.Input); err == nil {
		return SourceManifest
	}
	return SourceDataset
}

// validateManifestInput checks the flags of a manifest input.
func (c Config) validateManifestInput() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.ManifestFormat != "" {
		if _, err := manifest.ParseFormat(c.ManifestFormat); err != nil {
			bad("--format: %v", err)
		}
	}
	if len([]rune(c.CSVSep)) > 1 {
		bad("--csv-sep must be one character, got %q", c.CSVSep)
	}
	switch c.OnBadText {
	case "", BadTextReplace, BadTextFail:
	default:
		bad("--on-bad-text %q: use replace (keep the row with U+FFFD for each byte that is not UTF-8) or fail (fail only that row, as %s)", c.OnBadText, schemas.ClassBadText)
	}
	switch c.Sampling.OnMissing {
	case "fail", "pad":
	default:
		bad("--on-missing %q: use fail or pad", c.Sampling.OnMissing)
	}
	switch c.Sampling.OnCorrupt {
	case "fail", "keep":
	default:
		bad("--on-corrupt %q: use fail or keep", c.Sampling.OnCorrupt)
	}
	if c.Sampling.Frames <= 0 {
		bad("--frames %d: an export's clips need a fixed number of frames (e.g. --frames 8)", c.Sampling.Frames)
	}
	if c.Sampling.Deadline <= 0 {
		bad("--deadline %v: every decode needs a deadline (e.g. --deadline 2m)", c.Sampling.Deadline)
	}
	if _, err := c.Sampling.For("x", 0, 0).Validate(); err != nil {
		bad("sampling: %v", err)
	}
	return errors.Join(errs...)
}

// Validate checks what can be checked without reading anything.
func (c Config) Validate() error {
	switch {
	case c.Input == "":
		return errors.New("--input (a umt dataset, or a manifest: .json, .jsonl, .csv or .parquet) is required")
	case c.Output == "":
		return errors.New("--output (the export root) is required")
	case c.GroupClips <= 0:
		return fmt.Errorf("--group-clips=%d: want a positive number of rows per shard", c.GroupClips)
	case c.DType != schemas.DTypeFloat32 && c.DType != schemas.DTypeFloat16:
		return fmt.Errorf("--dtype=%q: want --dtype=%s or --dtype=%s", c.DType, schemas.DTypeFloat32, schemas.DTypeFloat16)
	}
	switch c.Model {
	case ModelTeacher:
		if c.Teacher == "" {
			return errors.New("--model=teacher needs --teacher (hf:openai/clip-vit-base-patch16, a model directory or a safetensors file)")
		}
	case ModelStudent, ModelStage2:
		if c.Weights == "" {
			return fmt.Errorf("--model=%s needs --weights (a 'umt train %s' checkpoints/ directory or one step-N/ directory)", c.Model, map[string]string{ModelStudent: "stage1", ModelStage2: "stage2"}[c.Model])
		}
		if strings.Contains(c.Weights, "://") {
			return fmt.Errorf("--weights=%s: the export reads checkpoints from local disk; copy it locally first", c.Weights)
		}
	default:
		return fmt.Errorf("--model=%q: want --model=%s, --model=%s or --model=%s", c.Model, ModelTeacher, ModelStudent, ModelStage2)
	}
	return nil
}

// Plan is a Config resolved against its input and weights by Prepare: what Build and Run take.
type Plan struct {
	Config
	Info     schemas.EmbeddingInfo
	Rows     int64  // rows of the input dataset
	Frames   int    // T of the input's clips
	Size     int    // S of the input's frames
	InputSHA string // sha256 of the input's index.json, or of the manifest: what the export is of
	Key      string // sha256 over Info, InputSHA, GroupClips (and a manifest's reading and sampling): in every shard name
	Source   string // SourceDataset or SourceManifest
	// CaptionLen is L of the input's caption tokens (0: the input stores none).
	CaptionLen int
	// Prev is the export an earlier run of the same Key committed at Output (nil if none):
	// its groups are reused, or with RetryFailed redone where they hold failures.
	Prev *Index
}

// Prepare validates cfg, reads the input dataset's index and the model's configuration, and
// returns the Plan.
func Prepare(ctx context.Context, cfg Config) (Plan, error) {
	if err := cfg.Validate(); err != nil {
		return Plan{}, err
	}
	for _, p := range []*string{&cfg.Input, &cfg.Output, &cfg.Teacher, &cfg.TeacherConfigFile, &cfg.Weights} {
		if *p != "" && !strings.Contains(*p, "://") && !strings.HasPrefix(*p, "hf:") {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return Plan{}, err
			}
			*p = abs
		}
	}
	var plan Plan
	var prov schemas.Provenance
	var keyed any
	if cfg.source() == SourceManifest {
		if err := cfg.validateManifestInput(); err != nil {
			return Plan{}, err
		}
		sum, err := storage.FileSHA256(ctx, cfg.Input)
		if err != nil {
			return Plan{}, fmt.Errorf("--input=%s: reading the manifest: %w", cfg.Input, err)
		}
		plan = Plan{Config: cfg, Source: SourceManifest, Frames: cfg.Sampling.Frames, Size: cfg.Sampling.Size, InputSHA: sum}
		prov = schemas.Provenance{Frames: cfg.Sampling.Frames, Size: cfg.Sampling.Size, Sampler: cfg.Sampling.String()}
		smp := cfg.Sampling
		smp.Deadline = 0 // a deadline decides no pixel
		keyed = struct {
			Group                      int
			Format, Root, Sep, BadText string
			Sampling                   video.Sampling
		}{cfg.GroupClips, cfg.ManifestFormat, cfg.Root, cfg.CSVSep, cfg.OnBadText, smp}
	} else {
		if cfg.Sampling != DefaultSampling() || cfg.ManifestFormat != "" || cfg.Root != "" || cfg.CSVSep != "" {
			return Plan{}, fmt.Errorf("--input=%s is a umt dataset: its clips were sampled by prep, so the sampling and manifest flags (--frames, --size, --sampler, --format, --root, ...) do not apply; drop them, or name a manifest (.json, .jsonl, .csv, .parquet, or --format)", cfg.Input)
		}
		ds, err := shard.Open(ctx, cfg.Input)
		if errors.Is(err, shard.ErrNoIndex) {
			return Plan{}, fmt.Errorf("--input=%s is neither a committed umt dataset (%w) nor a manifest (name it .json, .jsonl, .csv or .parquet, or pass --format)", cfg.Input, err)
		}
		if err != nil {
			return Plan{}, fmt.Errorf("--input=%s: %w", cfg.Input, err)
		}
		prov = ds.Provenance()
		plan = Plan{Config: cfg, Source: SourceDataset, Rows: ds.Index().Rows, Frames: prov.Frames, Size: prov.Size}
		if prov.Text != nil {
			plan.CaptionLen = prov.Text.MaxLen
		}
		ds.Close()
		if plan.InputSHA, err = storage.FileSHA256(ctx, storage.Join(cfg.Input, shard.IndexName)); err != nil {
			return Plan{}, fmt.Errorf("--input=%s: %w", cfg.Input, err)
		}
		keyed = plan.GroupClips
	}
	if err := prepareModel(ctx, &plan, prov); err != nil {
		return Plan{}, err
	}
	plan.Info.DType = cfg.DType
	if err := plan.Info.Validate(); err != nil {
		return Plan{}, err
	}
	b, _ := json.Marshal(struct {
		Info  schemas.EmbeddingInfo
		Input string
		Group any
	}{plan.Info, plan.InputSHA, keyed})
	h := sha256.Sum256(b)
	plan.Key = hex.EncodeToString(h[:])
	prev, err := previousExport(ctx, plan)
	if err != nil {
		return Plan{}, err
	}
	plan.Prev = prev
	return plan, nil
}

// prepareTeacher reads the teacher's configuration and names what its embeddings are.
func prepareTeacher(ctx context.Context, plan *Plan, prov schemas.Provenance) error {
	if strings.Contains(plan.Teacher, "://") {
		return fmt.Errorf("--teacher=%s: the export loads the teacher from a local file, a model directory or hf:NAME; copy it locally first", plan.Teacher)
	}
	sum, err := teacherSHA256(ctx, plan.Teacher)
	if err != nil {
		return fmt.Errorf("reading the teacher: %w", err)
	}
	_, tc, err := clip.Load(ctx, plan.Teacher, clip.LoadOptions{Config: plan.TeacherConfig, ConfigFile: plan.TeacherConfigFile})
	if err != nil {
		return fmt.Errorf("loading the teacher %s: %w", plan.Teacher, err)
	}
	plan.TeacherConfig = tc
	plan.Info = schemas.EmbeddingInfo{
		Model: "clip:" + filepath.Base(plan.Teacher), ModelSHA256: sum, Space: "video",
		Preprocessing: fmt.Sprintf("frames=%d size=%d sampler=%s; bicubic resize to %d, mean=%v std=%v",
			prov.Frames, prov.Size, prov.Sampler, tc.Resolution, tc.Mean, tc.Std),
		Normalisation: "l2(mean over frames of l2(ln_post(cls) @ proj))",
		Dim:           tc.OutputDim,
		Frames:        prov.Frames, FrameNormalisation: "l2(ln_post(cls) @ proj) of each frame",
	}
	return nil
}

// teacherSHA256 hashes the teacher's weights: the file, a model directory's
// model.safetensors, or for hf:NAME the spec (the hub fetch verifies the file's checksum).
func teacherSHA256(ctx context.Context, spec string) (string, error) {
	if strings.HasPrefix(spec, "hf:") {
		h := sha256.Sum256([]byte(spec))
		return hex.EncodeToString(h[:]), nil
	}
	if fi, err := os.Stat(spec); err == nil && fi.IsDir() {
		spec = filepath.Join(spec, "model.safetensors")
	}
	return storage.FileSHA256(ctx, spec)
}
