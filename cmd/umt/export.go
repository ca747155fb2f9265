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
		Short:  "umt dataset → Parquet embeddings with ids and provenance (Beam)",
		Global: true,
		Long: `Runs a model over the clips of a committed umt dataset (its stored frames: nothing is
decoded again) and writes one embedding per clip as Parquet shards plus an index.json written
last. Each row carries the clip id prep derived from URI and span, the source URI, the span
and the caption; "embedding" is a non-nullable fixed_size_list<float32>[E]. The file metadata
names the model, its weights' sha256, the preprocessing, the normalisation, the dtype and the
dimension (docs/EXPORT.md).

--model teacher: the CLIP teacher's image embedding of every frame (last block's CLS through
ln_post and the projection, L2-normalised, as CLIP's encode_image and clip-retrieval), averaged
over the clip's frames and L2-normalised again.

Shards are fixed groups of --group-clips input rows named by the export's settings; each is
published only if absent. Rerunning the same command after a kill resumes: committed shards
are kept, the rest computed, and the output is byte-identical to an uninterrupted run.

Runners (Beam flags) as for 'umt prep': Prism in-process by default; --runner=universal
--endpoint=HOST:PORT, or --runner=dataflow with its flags (docs/RUNNERS.md).

Examples:
  umt export --input /data/k400-umt --output /data/k400-emb --teacher hf:openai/clip-vit-base-patch16
  umt export --input /tmp/ds --output /tmp/emb \
      --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors --heads 4 --teacher-resolution 64
  umt export --input gs://b/ds --output gs://b/emb --teacher vit_b16.safetensors --device cuda --json`,
		Flags: func(fs *flag.FlagSet) {
			c := &exportFlags.cfg
			*c = export.Defaults()
			fs.StringVar(&c.Input, "input", "", "the umt dataset to embed: a local directory or gs://bucket/prefix (required)")
			fs.StringVar(&c.Output, "output", "", "export root: a local directory or gs://bucket/prefix (required)")
			fs.StringVar(&c.Model, "model", c.Model, "what embeds the clips: teacher (the CLIP teacher's pooled image embedding)")
			fs.StringVar(&c.Teacher, "teacher", "", "teacher weights: a safetensors file, a Hugging Face model directory, or hf:NAME (--model teacher)")
			fs.StringVar(&c.TeacherConfigFile, "teacher-config", "", "config for a teacher weights file: HF config.json or clip.Config JSON")
			fs.IntVar(&c.TeacherConfig.Resolution, "teacher-resolution", 0, "input size the teacher runs at (default 14*patch; 64 for the tiny demo teacher)")
			fs.IntVar(&c.TeacherConfig.Heads, "heads", 0, "teacher attention heads (default: config, else width/64)")
			fs.StringVar(&c.DType, "dtype", c.DType, "element type of the embedding columns: float32, or float16 (half the size; each value rounded to nearest even)")
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
