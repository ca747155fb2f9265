package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/umt-dev/umt/pipelines/export"
)

// exportFlags are bound to the global flag set (Beam reads its options from there too).
var exportFlags struct {
	cfg    export.Config
	asJSON bool
}

func init() {
	register(&Command{
		Path:   "export",
		Short:  "umt dataset or manifest of videos → Parquet embeddings with ids and provenance (Beam)",
		Global: true,
		Long: `Runs a model over clips and writes one embedding per clip as Parquet shards plus an
index.json written last. --input is either

  a committed umt dataset (a directory or gs:// prefix with index.json): its stored frames are
    embedded, nothing is decoded again; or
  a manifest of videos and images (.json UMT list, .jsonl, .csv or .parquet; local, gs:// or
    https://, or any name with --format), as 'umt prep' takes it: every entry is decoded and
    sampled exactly as prep does (--frames, --size, --sampler, --interp, --seed, --on-missing,
    --on-corrupt, a --deadline on every decode), with prep's clip ids. An entry that cannot
    become a clip (missing, truncated, corrupt, not media, a bad span, a malformed or duplicate
    manifest row, ...) is a row of the failures tables (failures-*.arrow, prep's schema) with its
    class; ok + failed = manifest rows is checked before index.json is written.

Each row carries the clip id prep derives from URI, span and sampling, the source URI, the span
and the caption, then the vectors (docs/EXPORT.md):
  embedding         fixed_size_list<dtype>[E]    one vector per clip
  frame_embeddings  fixed_size_list<dtype>[P·E]  P per-frame vectors, frame-major (reshape(P, E))
  text_embedding    list<dtype>, C·E, nullable   stage2 on captioned datasets: one per caption
The file metadata names the model, its weights' sha256, the preprocessing, the normalisation,
the dtype (--dtype float32, or float16: each value rounded to nearest even) and E.

--model teacher (--teacher): the CLIP teacher's image embedding of every frame (last block's
CLS through ln_post and the projection, L2-normalised, as CLIP's encode_image and
clip-retrieval) is frame_embeddings; embedding is their mean, L2-normalised again.

--model student (--weights, a 'umt train stage1' checkpoint): the student's forward on every
token of the clip (no mask); embedding is the L2-normalised mean of its final-norm tokens
norm(x_L) over the clip, frame_embeddings the same over each frame's tokens. E is the
student's width. The clips must have the student's frames and size.

--model stage2 (--weights, a 'umt train stage2' checkpoint): the zero-shot retrieval path
(as 'umt eval retrieval'): the clip unmasked with keep_temporal, frame_embeddings is each
frame's vision_proj(pool_norm(frame mean)) L2-normalised, embedding their mean (not
renormalised, so embedding · text_embedding is the ITC score); text_embedding is each
caption's text_proj([CLS]) L2-normalised, from a dataset's caption tokens (umt prep
--tokenizer; without them, as from a manifest, there is no text_embedding column). E is the
checkpoint's embed_dim.

--npy also writes the layout embedding-reader and autofaiss read: emb/<shard>.npy ([N, E],
<f4, or <f2 for float16) and metadata/<shard>.parquet (the same N rows' ids, URIs, spans and
captions), one pair per shard, row-aligned, committed with the shard.

Shards are fixed groups of --group-clips input rows named by the export's settings; each is
published only if absent. Rerunning the same command after a kill resumes: committed shards
are kept, the rest computed, and the output is byte-identical to an uninterrupted run. A rerun
over a finished export keeps its recorded failures; --retry-failed decodes only those again (a
video that was missing or a server that was down) and keeps every other row.

Runners (Beam flags) as for 'umt prep': Prism in-process by default; --runner=universal
--endpoint=HOST:PORT, or --runner=dataflow with its flags (docs/RUNNERS.md).

Examples:
  umt export --input /data/k400-umt --output /data/k400-emb --teacher hf:openai/clip-vit-base-patch16
  umt export --input /data/k400/train.csv --root /data/k400/videos --output /data/k400-emb \
      --teacher hf:openai/clip-vit-base-patch16 --frames 8 --size 224 --npy
  umt export --input gs://b/msrvtt.jsonl --output gs://b/msrvtt-emb --teacher vit_b16.safetensors \
      --deadline 1m --retry-failed --json
  umt export --input /tmp/ds --output /tmp/emb \
      --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors --heads 4 --teacher-resolution 64
  umt export --input /data/k400-umt --output /data/k400-student --model student \
      --weights out/stage1/checkpoints --dtype float16
  umt export --input /data/msrvtt-1k --output /data/msrvtt-emb --model stage2 \
      --weights out/s2/checkpoints/step-00010000 --device cuda
  python3 -c "import numpy as np, glob; print(np.load(sorted(glob.glob('/data/k400-emb/emb/*.npy'))[0]).shape)"`,
		Flags: func(fs *flag.FlagSet) {
			c := &exportFlags.cfg
			*c = export.Defaults()
			fs.StringVar(&c.Input, "input", "", "what to embed: a umt dataset (directory or gs:// prefix) or a manifest (.json, .jsonl, .csv, .parquet; local, gs:// or https://) (required)")
			fs.StringVar(&c.Output, "output", "", "export root: a local directory or gs://bucket/prefix (required)")
			fs.StringVar(&c.Model, "model", c.Model, "what embeds the clips: teacher (the CLIP teacher, --teacher), student (a stage-1 checkpoint, --weights) or stage2 (a stage-2 checkpoint, --weights)")
			fs.StringVar(&c.Weights, "weights", "", "checkpoint for --model student or stage2: a 'umt train' checkpoints/ directory (follows 'latest') or one step-N/ directory")
			fs.StringVar(&c.Teacher, "teacher", "", "teacher weights: a safetensors file, a Hugging Face model directory, or hf:NAME (--model teacher)")
			fs.StringVar(&c.TeacherConfigFile, "teacher-config", "", "config for a teacher weights file: HF config.json or clip.Config JSON")
			fs.IntVar(&c.TeacherConfig.Resolution, "teacher-resolution", 0, "input size the teacher runs at (default 14*patch; 64 for the tiny demo teacher)")
			fs.IntVar(&c.TeacherConfig.Heads, "heads", 0, "teacher attention heads (default: config, else width/64)")
			fs.StringVar(&c.DType, "dtype", c.DType, "element type of the embedding columns: float32, or float16 (half the size; each value rounded to nearest even)")
			fs.StringVar(&c.ManifestFormat, "format", "", "manifest format json|jsonl|csv|parquet (default: from the name; a name without one is a dataset)")
			fs.StringVar(&c.Root, "root", "", "manifest input: prefix for relative video paths (default: the manifest's directory)")
			fs.StringVar(&c.CSVSep, "csv-sep", "", `manifest input: CSV separator (default ","; "\t" for .tsv)`)
			s := &c.Sampling
			fs.IntVar(&s.Frames, "frames", s.Frames, "manifest input: frames per clip (T)")
			fs.IntVar(&s.Size, "size", s.Size, "manifest input: frame size S: short side scaled to S, centre crop S×S")
			fs.StringVar(&s.Sampler, "sampler", s.Sampler, "manifest input: frame sampler: middle, rand, segment, fpsN or at:t1,t2,... (UMT.md §3.2)")
			fs.StringVar(&s.Interp, "interp", s.Interp, "manifest input: resize interpolation (bicubic, bilinear, area, ...)")
			fs.Int64Var(&s.Seed, "seed", s.Seed, "manifest input: seed of the sampler (combined with each clip id)")
			fs.StringVar(&s.OnMissing, "on-missing", s.OnMissing, `manifest input: frames a damaged file cannot give: "fail" the clip or "pad" with the nearest frame`)
			fs.StringVar(&s.OnCorrupt, "on-corrupt", s.OnCorrupt, `manifest input: a sampled frame FFmpeg decoded from damaged data: "fail" the clip as corrupt or "keep" it`)
			fs.DurationVar(&s.Deadline, "deadline", s.Deadline, "manifest input: per-video decode deadline (a video past it fails as timeout)")
			fs.StringVar(&c.OnBadText, "on-bad-text", c.OnBadText, `manifest input: a caption or label that is not UTF-8: "replace" each bad byte with U+FFFD or "fail" only that row (bad_text)`)
			fs.BoolVar(&c.RetryFailed, "retry-failed", false, "on a rerun, redo the rows the committed failures tables list")
			fs.BoolVar(&c.NPY, "npy", false, "also write the embedding-reader/autofaiss view: emb/<shard>.npy + metadata/<shard>.parquet")
			fs.IntVar(&c.GroupClips, "group-clips", c.GroupClips, "input rows per shard (the unit of deterministic writing and of resume)")
			fs.IntVar(&c.Threads, "threads", 0, "kernel threads per model (0 = all cores)")
			fs.StringVar(&c.Device, "device", c.Device, "model backend: cpu, auto (the GPU when one works, else the CPU), cuda or cuda:N")
			fs.BoolVar(&exportFlags.asJSON, "json", false, "print the run report as JSON on stdout")
		},
		Exec: runExport,
	})
}

func runExport(args []string) error {
	if len(args) > 0 {
		return usagef("export takes no positional arguments (got %q); use --input", args)
	}
	cfg := exportFlags.cfg
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan, err := export.Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	rep, err := export.Run(ctx, plan)
	if err != nil {
		return err
	}
	fmt.Fprint(os.Stderr, rep.Summary())
	if exportFlags.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}
