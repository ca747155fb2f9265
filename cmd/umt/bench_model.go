package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/training/stage1"
)

func init() {
	var (
		tf, sf                          benchFlags
		config, teacher, teacherConfig  string
		size, frames, batch, teacherRes int
		stepConfig                      string
		stepBatch                       int
		sets                            repeated
	)
	register(&Command{
		Path:  "bench teacher",
		Short: "time the CLIP teacher forward (what prep runs per clip)",
		// prep's word for clips per teacher call.
		Aliases: map[string]string{"batch-clips": "batch"},
		Long: `Times the CLIP teacher's forward pass as prep runs it: --batch clips of --frames random
RGB frames of --size² pixels per call, features of the returned blocks and the CLS attention
out, on the device --device opens. The teacher is that of a training preset (--config tiny,
b16 or l16, as train's --config: the tiny teacher, ViT-B/16, ViT-L/14) with random weights,
which cost the same as real ones, or the weights --teacher names (as prep's --teacher: hf:NAME,
a Hugging Face directory or a safetensors file). clips/s here bounds prep's clips/s per
teacher worker. BenchmarkTeacherViTB16 (models/clip) times the same code.

Examples:
  umt bench teacher
  umt bench teacher --config tiny --iterations 2 --json
  umt bench teacher --config b16 --device cuda --precision bf16 --batch 16 --duration 30s
  umt bench teacher --teacher hf:openai/clip-vit-base-patch16 --threads 8`,
		Flags: func(fs *flag.FlagSet) {
			tf.declare(fs, false)
			fs.StringVar(&config, "config", "", "training preset whose teacher to time, with random weights: tiny, b16 (ViT-B/16) or l16 (ViT-L/14) (default b16; not with --teacher)")
			fs.StringVar(&teacher, "teacher", "", "teacher weights instead of a preset: hf:NAME, a Hugging Face model directory or a safetensors file")
			fs.StringVar(&teacherConfig, "teacher-config", "", "config for a --teacher weights file: HF config.json or clip.Config JSON")
			fs.IntVar(&teacherRes, "teacher-resolution", 0, "input size the teacher runs at (default: the preset's, or 14*patch)")
			fs.IntVar(&size, "size", 0, "frame size S of the S×S input frames (default: the teacher's resolution, no resize)")
			fs.IntVar(&frames, "frames", 8, "frames per clip (T)")
			fs.IntVar(&batch, "batch", 1, "clips per teacher call")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("bench teacher takes no positional arguments (got %q); give weights with --teacher", args)
			}
			if err := tf.check(); err != nil {
				return err
			}
			switch {
			case frames <= 0 || batch <= 0 || size < 0:
				return usagef("--frames %d --batch %d --size %d: give --frames 1 or more, --batch 1 or more and --size 0 (the teacher's resolution) or more", frames, batch, size)
			case config != "" && teacher != "":
				return usagef("--config %s and --teacher both choose the teacher: drop --config to time the weights, or --teacher to time the preset", config)
			}
			return benchTeacher(&tf, config, teacher, teacherConfig, teacherRes, clip.BenchShape{B: batch, T: frames, Size: size})
		},
	})
	register(&Command{
		Path:  "bench step",
		Short: "time one stage-1 training step (what train runs per batch)",
		Long: `Times one stage-1 training step as 'umt train stage1' takes it: forward over the visible
tokens of --batch clips (the config's mask ratio), the alignment loss, backward, the gradient
norm and an AdamW update, with random pixels and targets, drop path off. --config and --set are
train's (a preset tiny, b16, l16 or a JSON file). clips/s per GPU here is the training speed of
one rank. BenchmarkStep (training/stage1) times the same code.

Examples:
  umt bench step
  umt bench step --config tiny --batch 4 --iterations 10
  umt bench step --config b16 --batch 64 --device cuda --precision bf16 --json
  umt bench step --config b16 --set model.depth=6 --threads 2`,
		Flags: func(fs *flag.FlagSet) {
			sf.declare(fs, false)
			fs.StringVar(&stepConfig, "config", "b16", "training config: a preset name (tiny, b16, l16) or a JSON file")
			sets = nil
			fs.Var(&sets, "set", "override one config field: key=value, JSON names dotted into objects (model.depth=6); repeatable")
			fs.IntVar(&stepBatch, "batch", 2, "clips per step on this device")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("bench step takes no positional arguments (got %q)", args)
			}
			if err := sf.check(); err != nil {
				return err
			}
			if stepBatch <= 0 {
				return usagef("--batch %d: give --batch 1 or more", stepBatch)
			}
			rec, err := stage1.LoadRecipe(stepConfig, sets)
			if err != nil {
				return usagef("%v", err)
			}
			return benchStep(&sf, stepConfig, rec.Config, stepBatch)
		},
	})
}

// teacherOf maps the training presets to the teacher UMT pairs with them (UMT-L/16 learns
// from CLIP ViT-L/14).
var teacherOf = map[string]string{"tiny": "tiny", "b16": "b16", "l16": "l14", "l14": "l14"}

// benchTeacher times clip.Bench on the device bf opens.
func benchTeacher(bf *benchFlags, preset, spec, configFile string, res int, sh clip.BenchShape) error {
	var (
		w    *clip.Weights
		cfg  clip.Config
		name string
		err  error
	)
	if spec != "" {
		w, cfg, err = clip.Load(context.Background(), spec, clip.LoadOptions{Config: clip.Config{Resolution: res}, ConfigFile: configFile})
		if err != nil {
			return err
		}
		name = spec
	} else {
		if preset == "" {
			preset = "b16"
		}
		tp, ok := teacherOf[strings.ToLower(preset)]
		if !ok {
			return usagef("--config %q: bench teacher times the teacher of a training preset: use tiny, b16 or l16 (or time real weights with --teacher)", preset)
		}
		if cfg, err = clip.Preset(tp); err != nil {
			return err
		}
		preset += " → teacher " + tp
		if res > 0 {
			cfg.Resolution = res
		}
		name = preset + ", random weights"
	}
	dev, err := bf.open()
	if err != nil {
		return err
	}
	defer dev.Close()
	b, err := clip.NewBench(dev.Backend, cfg, w, sh)
	if err != nil {
		return err
	}
	defer b.Close()
	c := b.Config()
	r := benchResult{Mode: "teacher", Machine: thisMachine(), Warmup: bf.warmup,
		Workload: fmt.Sprintf("CLIP teacher %s (width %d, %d layers, patch %d, %d returned), %s × %s of %d² → %d², %s",
			name, c.Width, c.Layers, c.Patch, c.ReturnLayers, plural(b.B, "clip"), plural(b.T, "frame"), b.Size, c.Resolution, bf.precision)}
	r.deviceFields(dev)
	work := benchWork{run: b.Run, clips: b.B, frames: b.B * b.T}
	tm, err := measure(work, bf)
	if err != nil {
		return err
	}
	r.summarize(work, tm)
	return r.print(bf.asJSON)
}

// benchStep times stage1.StepBench on the device bf opens.
func benchStep(bf *benchFlags, name string, cfg stage1.Config, batch int) error {
	dev, err := bf.open()
	if err != nil {
		return err
	}
	defer dev.Close()
	be, err := dev.Trainer()
	if err != nil {
		return err
	}
	sb, err := stage1.NewStepBench(be, cfg, batch)
	if err != nil {
		return err
	}
	defer sb.Close()
	m := cfg.Model
	r := benchResult{Mode: "step", Machine: thisMachine(), Warmup: bf.warmup,
		Workload: fmt.Sprintf("stage-1 step, config %s (student dim %d, depth %d, %d frames of %d², mask ratio %g), %s, %s",
			name, m.Dim, m.Depth, m.Frames, m.ImgSize, cfg.MaskRatio, plural(batch, "clip"), bf.precision)}
	r.deviceFields(dev)
	work := benchWork{run: sb.Run, clips: batch, frames: batch * m.Frames, flops: sb.FLOPs()}
	tm, err := measure(work, bf)
	if err != nil {
		return err
	}
	r.summarize(work, tm)
	return r.print(bf.asJSON)
}
