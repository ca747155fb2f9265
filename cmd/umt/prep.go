package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/umt-dev/umt/pipelines/prep"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
)

// prepFlags are bound once to the global flag set (Beam reads its options from there too).
var prepFlags struct {
	cfg      prep.Config
	shardMB  int64
	asJSON   bool
	progress string
}

func init() {
	register(&Command{
		Path:   "prep",
		Short:  "manifest of videos → committed Arrow shards with teacher features (Beam)",
		Global: true,
		// The spellings before the CLI went kebab-case; they still parse.
		Aliases: map[string]string{
			"teacher_config":     "teacher-config",
			"teacher_resolution": "teacher-resolution",
			"teacher_layers":     "teacher-layers",
			"teacher_name":       "teacher-name",
			"on_missing":         "on-missing",
			"mask_ratio":         "mask-ratio",
			"csv_sep":            "csv-sep",
			"batch_clips":        "batch-clips",
			"group_clips":        "group-clips",
			"shard_mb":           "shard-mb",
		},
		Long: `Reads a manifest of videos, samples T frames per clip (FFmpeg), runs the CLIP teacher once
per frame, keeps the teacher tokens the layout stores (visible tokens of M semantic masks drawn
with UMT's sampler, seeded by clip id, or all tokens), and commits Arrow shards plus a failures
table and the dataset index. Every manifest row ends up either as a clip or as a failure row
with its class (empty, not_media, truncated, corrupt, no_video_stream, missing, timeout,
manifest, duplicate, ...): ok + failed == rows, checked before the index is written. A run
report (JSON) is written to DATASET/prep-report.json and summarised on stderr, and drawn in
DATASET/prep-report.png (clips per second over the run, failures by class).

Manifests: UMT JSON lists ([{"video": path, "caption": text}]; "image" entries are 1-frame
clips: use --frames 1 for image corpora, or --on-missing=pad to repeat them), CSV path,label (Kinetics style,
or with a header naming uri,caption,label,start,end), JSONL and Parquet with uri, caption, label,
start, end. Relative paths are resolved against --root (default: the manifest's directory).
A caption may be a list (UMT JSON/JSONL "caption": ["a", "b"], MSR-VTT style): the clip stores
all of them. With --tokenizer, each caption is tokenized once (BERT WordPiece, [CLS] + wordpieces,
no [SEP], --max-text-len ids) into caption_ids/caption_mask, the vocabulary's sha256 in the
provenance. Text that is not UTF-8 never fails a job: a file name keeps its bytes (stored as a
percent-encoded file:// URI), a caption or label gets U+FFFD for each bad byte (see
--on-bad-text).
Sources and outputs: local paths or gs://; manifests also https://.

Two-phase mode for clusters: --phase=frames decodes only (cheap CPU workers) and writes a
frames dataset (layout "frames": the clips' frames, no teacher columns, and the failures
table); --phase=teacher --input=FRAMES_DATASET runs the teacher over it (GPU machines) and
writes the dataset a one-pass run would write: the same rows and failures. The teacher phase
takes frames, size, sampler and seed from the frames dataset; the frames phase takes no
teacher flags.

Rerunning the same command resumes: committed clips are kept, clips staged by an interrupted
run are reused, only missing work is done, and the result is byte-identical to a clean run.
Failed rows stay failed unless --retry-failed.

Runners (Beam flags): Prism in-process by default; --runner=universal (or flink)
--endpoint=HOST:PORT for a portable job server; --runner=dataflow with --project, --region,
--staging_location, --sdk_container_image and --worker_binary (see docs/RUNNERS.md). Remote
workers need the cgo worker binary from 'make worker'.

Examples:
  umt prep --input testdata/sample/manifest.jsonl --output /tmp/ds \
      --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors --teacher-resolution 64 \
      --size 64 --frames 4
  umt prep --input k400/train.csv --root /data/k400 --output /data/k400-umt \
      --teacher hf:openai/clip-vit-base-patch16 --layout visible:2
  umt prep --input webvid/anno.json --output /data/webvid-umt --tokenizer hf:bert-base-uncased \
      --teacher hf:openai/clip-vit-base-patch16 --max-text-len 32
  umt prep --phase=frames --input k400/train.csv --root /data/k400 --output /data/k400-frames
  umt prep --phase=teacher --input /data/k400-frames --output /data/k400-umt \
      --teacher hf:openai/clip-vit-base-patch16 --device cuda
  umt prep --input gs://b/anno.json --output gs://b/ds --teacher gs://b/vit_b16.safetensors \
      --runner=flink --endpoint=jobserver:8099 --environment_type=DOCKER \
      --environment_config=REGISTRY/umt-worker:latest --worker_binary=bin/umt-worker
  umt prep --input gs://b/m.parquet --output gs://b/ds --teacher gs://b/t.safetensors \
      --runner=dataflow --project=P --region=us-central1 --staging_location=gs://b/staging \
      --sdk_container_image=REGISTRY/umt-worker:latest --worker_binary=bin/umt-worker`,
		Flags: func(fs *flag.FlagSet) {
			if fs.Lookup("input") != nil {
				return // already declared on the global set by an earlier call
			}
			c := &prepFlags.cfg
			*c = prep.Defaults()
			fs.StringVar(&c.Phase, "phase", prep.PhaseAll, "all: decode and run the teacher in one pass; frames: decode only, into a frames dataset; teacher: add the teacher to the frames dataset --input names")
			fs.StringVar(&c.Manifest, "input", "", "manifest: .json (UMT list), .jsonl, .csv or .parquet; local, gs:// or https:// (required); with --phase=teacher, the frames dataset")
			fs.StringVar(&c.Output, "output", "", "dataset root: a local directory or gs://bucket/prefix (required)")
			fs.StringVar(&c.Teacher, "teacher", "", "teacher weights: a safetensors file (local or gs://), a Hugging Face model directory, or hf:NAME (required)")
			fs.StringVar(&c.TeacherConfigFile, "teacher-config", "", "config for a teacher weights file: HF config.json or clip.Config JSON")
			fs.IntVar(&c.TeacherConfig.Resolution, "teacher-resolution", 0, "input size the teacher runs at (default 14*patch as UMT: 224 for /16, 196 for /14; 64 for the tiny demo teacher)")
			fs.IntVar(&c.TeacherConfig.ReturnLayers, "teacher-layers", 0, "K: teacher blocks whose outputs are stored, the last K (default min(6, layers))")
			fs.Float64Var(&c.TeacherConfig.ReturnInterval, "teacher-interval", 0, "spacing of the K stored blocks counted from the last, UMT's clip_return_interval (a float; default 1: the last K; 2: every second block)")
			fs.StringVar(&c.TeacherName, "teacher-name", "", "teacher name recorded in the provenance (default: the file name)")
			fs.IntVar(&c.Frames, "frames", c.Frames, "frames per clip (T)")
			fs.IntVar(&c.Size, "size", c.Size, "frame size S: short side scaled to S, centre crop S×S")
			fs.StringVar(&c.Sampler, "sampler", c.Sampler, "frame sampler: middle, rand, segment, fpsN or at:t1,t2,... (UMT.md §3.2)")
			fs.StringVar(&c.Interp, "interp", c.Interp, "resize interpolation (bicubic, bilinear, area, ...)")
			fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the sampler and of the semantic mask draws (combined with each clip id)")
			fs.StringVar(&c.OnMissing, "on-missing", c.OnMissing, `frames a damaged file cannot give: "fail" the clip or "pad" with the nearest frame`)
			fs.StringVar(&c.OnCorrupt, "on-corrupt", c.OnCorrupt, `a sampled frame FFmpeg decoded from damaged data: "fail" the clip as corrupt or "keep" it (counted in the report)`)
			fs.StringVar(&c.OnBadText, "on-bad-text", c.OnBadText, `a caption or label that is not UTF-8: "replace" each bad byte with U+FFFD (counted in the report) or "fail" only that row (bad_text)`)
			fs.StringVar(&c.Tokenizer, "tokenizer", "", "tokenize captions with this BERT WordPiece vocabulary (vocab.txt, a Hugging Face model directory, a URI, or hf:bert-base-uncased) and store caption_ids/caption_mask; default: store the raw captions only")
			fs.IntVar(&c.MaxTextLen, "max-text-len", c.MaxTextLen, "ids per caption with --tokenizer: [CLS] + up to N-1 wordpieces, [PAD] after (UMT's max_txt_l)")
			fs.BoolVar(&c.PreText, "pre-text", c.PreText, "with --tokenizer, clean captions with UMT's pre_text first (lower-case, punctuation removed), as the official datasets do")
			fs.StringVar(&c.Layout, "layout", c.Layout, "stored teacher tokens: visible:M (union of M semantic masks) or full")
			fs.Float64Var(&c.MaskRatio, "mask-ratio", c.MaskRatio, "UMT's mask ratio; visible tokens per frame = HW - int(HW*ratio)")
			fs.StringVar(&c.ManifestFormat, "format", "", "manifest format json|jsonl|csv|parquet (default: from the file name)")
			fs.StringVar(&c.Root, "root", "", "prefix for relative video paths (default: the manifest's directory)")
			fs.StringVar(&c.CSVSep, "csv-sep", "", `CSV separator (default ","; "\t" for .tsv)`)
			fs.IntVar(&c.BatchClips, "batch-clips", c.BatchClips, "clips per teacher call on a GPU, batched across a bundle and zero-padded so every call has one shape (the CPU runs one clip per call)")
			fs.IntVar(&c.GroupClips, "group-clips", c.GroupClips, "manifest rows per shard group (the unit of deterministic writing)")
			fs.Int64Var(&prepFlags.shardMB, "shard-mb", c.TargetBytes>>20, "roll to a new shard at this size (MiB)")
			fs.StringVar(&c.Compression, "compression", c.Compression, "shard compression: lz4, zstd or none")
			fs.DurationVar(&c.Deadline, "deadline", c.Deadline, "per-video decode deadline")
			fs.BoolVar(&c.RetryFailed, "retry-failed", false, "on a rerun, redo rows the committed failures table lists")
			fs.IntVar(&c.Workers, "threads", 0, "kernel threads per teacher (0 = all cores)")
			fs.StringVar(&c.Device, "device", "auto", "teacher backend: auto (the GPU when one works, else the CPU), cpu, cuda or cuda:N")
			fs.BoolVar(&prepFlags.asJSON, "json", false, "print the run report as JSON on stdout")
			fs.StringVar(&prepFlags.progress, "progress", "auto", "progress bar: auto (on a terminal), on or off")
		},
		Exec: runPrep,
	})
}

func runPrep(args []string) error {
	if len(args) > 0 {
		return usagef("prep takes no positional arguments (got %q); use --input", args)
	}
	cfg := prepFlags.cfg
	cfg.TargetBytes = prepFlags.shardMB << 20
	if cfg.CSVSep == `\t` {
		cfg.CSVSep = "\t"
	}
	if err := phaseFlags(cfg.Phase, flag.Visit); err != nil {
		return usageError{err}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	// Beam logs every job step at INFO; keep the terminal to warnings, the bar and the summary.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan, err := prep.Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	stopBar := startProgress(ctx, plan.Config)
	stopSamples := sampleProgress(250 * time.Millisecond)
	rep, err := prep.Run(ctx, plan)
	stopBar()
	samples := stopSamples()
	if rep != nil {
		fmt.Fprint(os.Stderr, rep.Summary())
		if uri, perr := writeReportPlot(ctx, rep, samples); perr != nil {
			fmt.Fprintf(os.Stderr, "  (the report's plot was not written: %v)\n", perr)
		} else {
			fmt.Fprintf(os.Stderr, "  plot %s\n", uri)
		}
		if prepFlags.asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		}
	}
	return err
}

// phaseFlags refuses flags a phase would ignore: the teacher phase takes its sampling from the
// frames dataset, and the frames phase runs no teacher. Silently ignoring them would make a
// dataset other than the one the command line describes.
func phaseFlags(phase string, visitSet func(func(*flag.Flag))) error {
	ignored := map[string][]string{
		prep.PhaseTeacher: {"frames", "size", "sampler", "interp", "seed", "on-missing", "on-corrupt", "on-bad-text", "format", "root", "csv-sep", "deadline", "tokenizer", "max-text-len", "pre-text"},
		prep.PhaseFrames:  {"teacher", "teacher-config", "teacher-resolution", "teacher-layers", "teacher-interval", "teacher-name", "layout", "mask-ratio", "batch-clips", "threads", "device"},
	}[phase]
	var set []string
	visitSet(func(f *flag.Flag) {
		if name := commands["prep"].canonicalFlag(f.Name); slices.Contains(ignored, name) {
			set = append(set, "--"+name)
		}
	})
	if len(set) == 0 {
		return nil
	}
	if phase == prep.PhaseTeacher {
		return fmt.Errorf("--phase=teacher takes the sampling settings from the frames dataset; drop %s", strings.Join(set, " "))
	}
	return fmt.Errorf("--phase=frames decodes only and runs no teacher; drop %s (give them to --phase=teacher)", strings.Join(set, " "))
}

// startProgress shows a progress bar on a terminal (or with --progress=on) for runs whose
// workers report to this process (in-process Prism, loopback); it returns a stop function.
func startProgress(ctx context.Context, cfg prep.Config) func() {
	on := prepFlags.progress == "on"
	if prepFlags.progress == "auto" {
		fi, err := os.Stderr.Stat()
		on = err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	if !on {
		return func() {}
	}
	var total int64
	if cfg.Phase == prep.PhaseTeacher {
		ds, err := shard.Open(ctx, cfg.Manifest)
		if err != nil {
			return func() {}
		}
		total = ds.Index().Rows
		ds.Close()
	} else {
		opt := manifest.Options{Format: manifest.Format(cfg.ManifestFormat), Root: cfg.Root}
		if manifest.Read(ctx, cfg.Manifest, opt, func(manifest.Row) error { total++; return nil }) != nil {
			return func() {}
		}
	}
	p := mpb.New(mpb.WithOutput(os.Stderr), mpb.WithWidth(40))
	bar := p.AddBar(total,
		mpb.PrependDecorators(decor.Name("prep "), decor.CountersNoUnit("%d / %d clips")),
		mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.Elapsed(decor.ET_STYLE_GO)))
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n, _ := prep.Progress()
				bar.SetCurrent(min(n, total))
			}
		}
	}()
	return func() {
		close(done)
		bar.Abort(false)
		p.Wait()
	}
}
