package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/umt-dev/umt/configs"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/training/stage2"
	"github.com/umt-dev/umt/transforms/shard"
)

func init() {
	var (
		data, initPath, text, config, out, resume, device string
		maxSteps, logEvery, threads                       int
		seed                                              int64
		sets                                              repeated
	)
	register(&Command{
		Path:    "train stage2",
		Short:   "stage 2: vision-language training (UTA + VTC + VTM + MLM) from a stage-1 student",
		Aliases: map[string]string{"out": "output", "steps": "max-steps"},
		Long: `Trains UMT's stage-2 model on captioned datasets written by 'umt prep --tokenizer': the
vision encoder starts from a stage-1 student (--init), the text encoder from BERT weights
(--text, by default the preset's: bert-base-uncased, bert-large-uncased for L, cross-attention
from layer 9 or 19), the heads fresh. Each step is one whole batch of one dataset (the official
MetaLoader order: every dataset's batches of the epoch, shuffled); a dataset of 1-frame clips
is an image corpus (its own batch size, mask ratio 0.5). The loss is uta + vtc + vtm + mlm;
AdamW (0.9, 0.999) wd 0.02 at lr 1e-4 (not batch-scaled), 1 warmup epoch, cosine to 0.01×.

--config takes a preset (tiny for CPU runs; b16_5m, b16_25m, l16_25m: the official recipes,
128 clips × 16 or 32 GPUs per step, 10 epochs, max_txt_l 32) or a JSON file, which may say
{"preset": "b16_25m", ...} and override fields; --set key=value (repeatable) overrides one
field by its JSON name, dotted into objects (--set batch_size=8 --set vision.drop_path=0).
Every dataset must store caption tokens of the text encoder's vocabulary and max_txt_l ids;
one that does not is refused with the 'umt prep' or --set that fixes it.
Every step is appended to OUTPUT/metrics.jsonl; checkpoints go to OUTPUT/checkpoints
(step-N/ with model.safetensors in the official state-dict naming, optim.safetensors and
state.json with checksums; 'latest' names the newest); OUTPUT/loss.png is drawn at the end.
Ctrl-C stops after the current step and checkpoints; --resume continues bit for bit (the
weights come from the checkpoint; --init and --text are not needed).

Examples:
  umt train stage2 --data out/cap --init out/demo-run/checkpoints --text hf:bert-base-uncased --config tiny --output out/s2 --max-steps 20
  umt train stage2 --data gs://b/webvid,gs://b/cc3m --init b16_ptk710.safetensors --text hf:bert-base-uncased --config b16_5m --output /ckpt/s2 --device cuda
  umt train stage2 --data out/cap --config tiny --set batch_size=4 --output out/s2 --resume out/s2/checkpoints`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&data, "data", "", "datasets written by 'umt prep --tokenizer', comma-separated: local directories or gs:// prefixes; 1-frame datasets are image corpora (required)")
			fs.StringVar(&initPath, "init", "", "stage-1 student for the vision encoder: a 'umt train stage1' checkpoints/ or step-N/ directory, or a safetensors state dict in the official naming (required unless --resume)")
			fs.StringVar(&text, "text", "", "text encoder weights: hf:owner/name, a Hugging Face model directory, or a safetensors file (BERT or a UMT stage-2 checkpoint); default: the config's text_encoder (hf:bert-base-uncased, hf:bert-large-uncased for l16_25m)")
			fs.StringVar(&config, "config", "tiny", "training config: a preset ("+strings.Join(configs.Stage2Names(), ", ")+") or a JSON file")
			sets = nil
			fs.Var(&sets, "set", "override one config field: key=value, JSON names dotted into objects (vision.depth=6); repeatable")
			fs.StringVar(&out, "output", "runs/stage2", "run directory for checkpoints, metrics.jsonl and loss.png")
			fs.StringVar(&resume, "resume", "", "checkpoint to continue from: a checkpoints/ directory (follows 'latest') or one step-N/ directory")
			fs.StringVar(&device, "device", "auto", "compute backend: auto (the GPU when one works, else the CPU), cpu, cuda or cuda:N")
			fs.IntVar(&maxSteps, "max-steps", -1, "stop after this many steps in all (overrides the config; 0 = whole schedule)")
			fs.IntVar(&logEvery, "log-every", -1, "steps between log lines (overrides the config)")
			fs.IntVar(&threads, "threads", 0, "CPU threads (0 = all)")
			fs.Int64Var(&seed, "seed", -1, "seed for data order, masks, captions and heads (overrides the config)")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments %q", args)
			}
			if data == "" {
				return usagef("--data is required (datasets written by 'umt prep --tokenizer', comma-separated)")
			}
			if initPath == "" && resume == "" {
				return usagef("--init is required: the stage-1 student (a 'umt train stage1' checkpoints/ directory or a safetensors state dict)")
			}
			cfg, err := stage2.LoadConfig(config, sets)
			if err != nil {
				return usagef("%v", err)
			}
			if maxSteps >= 0 {
				cfg.MaxSteps = maxSteps
			}
			if logEvery >= 0 {
				cfg.LogEvery = logEvery
			}
			if seed >= 0 {
				cfg.Seed = uint64(seed)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			var ds []stage2.Dataset
			for _, uri := range strings.Split(data, ",") {
				d, err := shard.Open(ctx, uri)
				if err != nil {
					return fmt.Errorf("opening %s: %w", uri, err)
				}
				defer d.Close()
				ds = append(ds, stage2.Dataset{Name: uri, Src: d, Prov: d.Provenance()})
			}
			in := stage2.Init{Resume: resume}
			if resume == "" {
				var rep multimodal.Stage1Load
				if in.Vision, rep, err = stage2.VisionInit(initPath, cfg.Vision, cfg.Seed); err != nil {
					return fmt.Errorf("--init: %w", err)
				}
				fmt.Fprintf(stdout, "init: vision encoder from %s: %d tensors loaded, new %v, ignored %v\n", initPath, len(rep.Loaded), rep.Missing, rep.Unexpected)
				if in.Text, err = cfg.LoadText(ctx, text); err != nil {
					return fmt.Errorf("--text: %w", err)
				}
				if text == "" {
					text = cfg.TextEncoder
				}
				fmt.Fprintf(stdout, "init: text encoder from %s: %d×%d, vocabulary %d, fusion from layer %d, initialised %v\n",
					text, in.Text.Cfg.Hidden, in.Text.Cfg.Layers, in.Text.Cfg.Vocab, in.Text.Cfg.FusionLayer, in.Text.Initialised)
			}
			dev, err := kernels.Open(device, kernels.Options{Threads: threads})
			if err != nil {
				return err
			}
			defer dev.Close()
			fmt.Fprintf(os.Stderr, "device: %s\n", dev.Reason)
			be, err := dev.Trainer()
			if err != nil {
				return err
			}
			run, err := stage2.Start(be, cfg, ds, in, stage2.RunOptions{Out: out, Log: stdout})
			if err != nil {
				return err
			}
			defer run.Close()
			if resume != "" {
				fmt.Fprintf(stdout, "resumed from %s at step %d\n", resume, run.Tr.Step)
			}
			err = run.Run(ctx)
			if ctx.Err() != nil {
				fmt.Fprintf(stdout, "interrupted at step %d; resume with --resume %s\n", run.Tr.Step, filepath.Join(out, "checkpoints"))
				return nil
			}
			return err
		},
	})
}
