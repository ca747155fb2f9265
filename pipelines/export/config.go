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

	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// Models the export runs.
const (
	ModelTeacher = "teacher" // the CLIP teacher's pooled image embedding, mean over frames
)

// IndexName is the export's index, written last.
const IndexName = "index.json"

// Config is what the command line sets.
type Config struct {
	Input  string // a committed umt dataset (local or gs://)
	Output string // the export root (local or gs://)
	Model  string // ModelTeacher

	Teacher           string      // --teacher: safetensors file, HF model directory or hf:NAME
	TeacherConfigFile string      // --teacher-config
	TeacherConfig     clip.Config // shape overrides (zero: from the weights)

	DType      string // element type of the embedding columns: schemas.DTypeFloat32 or DTypeFloat16
	Device     string // kernels.Open spec; "" is the CPU
	Threads    int    // kernel threads (0: all)
	GroupClips int    // input rows per shard
}

// Defaults returns the command line's defaults.
func Defaults() Config {
	return Config{Model: ModelTeacher, DType: schemas.DTypeFloat32, Device: "cpu", GroupClips: 1024}
}

// Validate checks what can be checked without reading anything.
func (c Config) Validate() error {
	switch {
	case c.Input == "":
		return errors.New("--input (a umt dataset) is required")
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
	default:
		return fmt.Errorf("--model=%q: want %q", c.Model, ModelTeacher)
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
	InputSHA string // sha256 of the input's index.json: the dataset the export is of
	Key      string // sha256 over Info, InputSHA and GroupClips: in every shard name
}

// Prepare validates cfg, reads the input dataset's index and the model's configuration, and
// returns the Plan.
func Prepare(ctx context.Context, cfg Config) (Plan, error) {
	if err := cfg.Validate(); err != nil {
		return Plan{}, err
	}
	for _, p := range []*string{&cfg.Input, &cfg.Output, &cfg.Teacher, &cfg.TeacherConfigFile} {
		if *p != "" && !strings.Contains(*p, "://") && !strings.HasPrefix(*p, "hf:") {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return Plan{}, err
			}
			*p = abs
		}
	}
	ds, err := shard.Open(ctx, cfg.Input)
	if err != nil {
		return Plan{}, fmt.Errorf("--input=%s: %w", cfg.Input, err)
	}
	prov := ds.Provenance()
	plan := Plan{Config: cfg, Rows: ds.Index().Rows, Frames: prov.Frames, Size: prov.Size}
	ds.Close()
	if plan.InputSHA, err = storage.FileSHA256(ctx, storage.Join(cfg.Input, shard.IndexName)); err != nil {
		return Plan{}, fmt.Errorf("--input=%s: %w", cfg.Input, err)
	}
	if err := prepareTeacher(ctx, &plan, prov); err != nil {
		return Plan{}, err
	}
	plan.Info.DType = cfg.DType
	if err := plan.Info.Validate(); err != nil {
		return Plan{}, err
	}
	b, _ := json.Marshal(struct {
		Info  schemas.EmbeddingInfo
		Input string
		Group int
	}{plan.Info, plan.InputSHA, plan.GroupClips})
	h := sha256.Sum256(b)
	plan.Key = hex.EncodeToString(h[:])
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
