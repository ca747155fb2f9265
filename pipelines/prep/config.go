package prep

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/text"
	"github.com/umt-dev/umt/transforms/video"
)

// Config is what the user asked for (the command's flags). Prepare checks it and resolves it
// into the Plan that Build, Run and the DoFns take.
type Config struct {
	// Phase splits the job for clusters: PhaseAll (or "") decodes and runs the teacher in one
	// pass; PhaseFrames decodes only and writes a frames-only dataset (layout "frames");
	// PhaseTeacher reads such a dataset (Manifest names it) and writes the full dataset.
	Phase string

	Manifest       string // local path, gs:// or https:// URL; the frames dataset for PhaseTeacher
	ManifestFormat string // "" = from the name
	Root           string // prefix of relative video paths; "" = the manifest's directory
	CSVSep         string // CSV separator; "" = ','
	Output         string // dataset root: local directory or gs://bucket/prefix

	Teacher       string      // --teacher spec: safetensors file (local or gs://), HF model directory, or hf:NAME
	TeacherName   string      // recorded in the provenance; "" = the file name
	TeacherConfig clip.Config // shape overrides / run settings; zero fields come from the weights
	// TeacherConfigFile is a Hugging Face config.json or clip.Config JSON for a weights file.
	TeacherConfigFile string

	Frames    int     // T
	Size      int     // S: frames are S×S
	Sampler   string  // rand, middle, segment, fpsN, at:…
	Interp    string  // swscale interpolation
	Seed      int64   // seeds the sampler (with the clip id) and the mask draws
	OnMissing string  // fail or pad
	Layout    string  // full or visible:M
	MaskRatio float64 // UMT's 0.8

	BatchClips  int           // clips per teacher call (batched across a bundle)
	GroupClips  int           // manifest rows per shard group (the unit of deterministic writing)
	TargetBytes int64         // shard roll-over size
	Compression string        // lz4, zstd, none
	Deadline    time.Duration // per-video decode deadline
	RetryFailed bool          // redo rows that failed in the committed dataset
	OnCorrupt   string        // fail (default) or keep clips with damaged sampled frames (counted in the report)
	OnBadText   string        // captions/labels that are not UTF-8: BadTextReplace ("" too) or BadTextFail
	Workers     int           // kernels threads per teacher (0 = all cores)
	// Device picks the teacher's compute backend: cpu, cuda, cuda:N, or auto (the GPU when one
	// works, else the CPU, with the reason logged). "" means cpu.
	Device string

	// Tokenizer names the WordPiece vocabulary captions are tokenized with (a vocab.txt, a
	// Hugging Face model directory, a URI, or hf:NAME); "" stores no caption tokens.
	Tokenizer  string
	MaxTextLen int  // L: ids per caption ([CLS] + at most L−1 wordpieces); UMT's max_txt_l is 32
	PreText    bool // clean captions with UMT's pre_text before tokenizing (as the official datasets do)
}

// Plan is a prep job Prepare has resolved; it is serialised into the DoFns. Its Config is the
// effective one: local paths absolute, Phase set, TeacherConfig the teacher's complete config,
// and for PhaseTeacher the frames dataset's Frames, Size and Seed.
type Plan struct {
	Config

	TeacherSHA256 string             // sha256 of the teacher's weights (PhaseFrames: "")
	Provenance    schemas.Provenance // what every shard of the dataset carries
	Input         schemas.Provenance // PhaseTeacher: the provenance of the frames dataset read
	TeacherLayers []int32            // the teacher blocks whose outputs are stored, ascending
	RunID         string             // unique id of this run; keys per-process caches of its DoFns
	// Vocab is the tokenizer's vocab.txt (Provenance.Text names it): carried in the plan so
	// workers need no hub or network to tokenize.
	Vocab []byte
}

// tokenizer builds the plan's tokenizer (nil when the dataset stores no caption tokens) and
// checks its vocabulary is the one the provenance names.
func (p Plan) tokenizer() (*text.Tokenizer, error) {
	t := p.Provenance.Text
	if t == nil {
		return nil, nil
	}
	v, err := text.ParseVocab(p.Vocab)
	if err != nil {
		return nil, fmt.Errorf("the plan's vocabulary: %w", err)
	}
	if v.SHA256() != t.VocabSHA256 {
		return nil, fmt.Errorf("the plan's vocabulary has sha256 %s, the provenance says %s", v.SHA256(), t.VocabSHA256)
	}
	return text.NewTokenizer(v), nil
}

// Namespace is the Beam metrics namespace of prep's counters and distributions.
const Namespace = "umt.prep"

// --on-bad-text policies for a caption or label that is not UTF-8.
const (
	BadTextReplace = "replace" // keep the row, each invalid byte becomes U+FFFD (counted in the report)
	BadTextFail    = "fail"    // fail only that row, as ClassBadText
)

// Defaults returns UMT's stage-1 settings.
func Defaults() Config {
	return Config{
		Frames: 8, Size: 224, Sampler: video.SamplerMiddle, Interp: "bicubic", OnMissing: "fail", OnCorrupt: "fail", OnBadText: BadTextReplace,
		MaxTextLen: 32, PreText: true,
		Layout: "visible:1", MaskRatio: 0.8, BatchClips: 4, GroupClips: 256,
		TargetBytes: 512 << 20, Compression: shard.CompressLZ4, Deadline: 2 * time.Minute,
	}
}

// Sampling is how the dataset's clips are sampled (shared with `umt export`).
func (c Config) Sampling() video.Sampling {
	return video.Sampling{Frames: c.Frames, Size: c.Size, Sampler: c.Sampler, Interp: c.Interp, Seed: c.Seed,
		OnMissing: c.OnMissing, OnCorrupt: c.OnCorrupt, Deadline: c.Deadline}
}

// SamplerString is the sampler configuration hashed into every clip id: everything that
// decides which pixels a clip holds.
func (c Config) SamplerString() string { return c.Sampling().String() }

// SampleConfig is the video sampling configuration of one clip.
func (c Config) SampleConfig(clipID string, start, end float64) video.SampleConfig {
	return c.Sampling().For(clipID, start, end)
}

// Validate checks the configuration before anything runs.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.OnMissing {
	case "", "fail", "pad":
	default:
		bad("--on-missing %q: use fail (a clip with targets no frame can fill fails as truncated/corrupt) or pad (repeat the nearest frame, counted in the report)", c.OnMissing)
	}
	switch c.OnCorrupt {
	case "", "fail", "keep":
	default:
		bad("--on-corrupt %q: use fail (a clip with a damaged sampled frame fails as corrupt) or keep (write it, counted in the report)", c.OnCorrupt)
	}
	switch c.Phase {
	case "", PhaseAll, PhaseFrames, PhaseTeacher:
	default:
		bad("--phase %q: use all (decode and teacher in one pass), frames (decode only) or teacher (add the teacher to a frames dataset)", c.Phase)
	}
	if c.Manifest == "" {
		if c.Phase == PhaseTeacher {
			bad("--input: give the frames dataset written by --phase=frames (its directory or gs:// prefix)")
		} else {
			bad("--input: give the manifest (.json, .jsonl, .csv or .parquet)")
		}
	}
	if c.Phase == PhaseTeacher && c.Manifest != "" && c.Manifest == c.Output {
		bad("--phase=teacher: --output must differ from --input (the frames dataset stays as it is)")
	}
	if c.Output == "" {
		bad("--output: give the dataset directory or gs://bucket/prefix")
	}
	if c.Teacher == "" && c.Phase != PhaseFrames {
		bad("--teacher: give the teacher weights (.safetensors); testdata/refdata/umt/teacher_tiny_openai.safetensors is a tiny random one")
	}
	if c.ManifestFormat != "" {
		if _, err := manifest.ParseFormat(c.ManifestFormat); err != nil {
			bad("--format: %v", err)
		}
	}
	switch c.OnBadText {
	case "", BadTextReplace, BadTextFail:
	default:
		bad("--on-bad-text %q: use replace (keep the row with U+FFFD for each byte that is not UTF-8) or fail (fail only that row, as %s)", c.OnBadText, schemas.ClassBadText)
	}
	if c.Tokenizer != "" && (c.MaxTextLen < 2 || c.MaxTextLen > 4096) {
		bad("--max-text-len %d: want 2..4096 ([CLS] and at least one wordpiece); UMT uses 32", c.MaxTextLen)
	}
	if len([]rune(c.CSVSep)) > 1 {
		bad("--csv_sep must be one character, got %q", c.CSVSep)
	}
	if c.Phase != PhaseTeacher { // the teacher phase samples nothing: the frames dataset did
		if _, err := c.SampleConfig("x", 0, 0).Validate(); err != nil {
			bad("sampling: %v", err)
		}
		if c.Sampler == "" || strings.HasPrefix(c.Sampler, "fps") && c.Frames <= 0 {
			bad("--sampler %q with --frames %d: shards need a fixed number of frames", c.Sampler, c.Frames)
		}
	}
	if _, err := schemas.ParseLayout(c.Layout); err != nil {
		bad("--layout: %v", err)
	}
	if c.MaskRatio <= 0 || c.MaskRatio >= 1 {
		bad("--mask_ratio %v must be in (0, 1)", c.MaskRatio)
	}
	if c.BatchClips < 1 || c.GroupClips < 1 {
		bad("--batch_clips and --group_clips must be ≥ 1")
	}
	switch c.Compression {
	case shard.CompressLZ4, shard.CompressZstd, shard.CompressNone:
	default:
		bad("--compression %q: use lz4, zstd or none", c.Compression)
	}
	return errors.Join(errs...)
}
