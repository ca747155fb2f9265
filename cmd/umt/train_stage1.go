package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/training/stage1"
	"github.com/umt-dev/umt/transforms/shard"
)

func init() {
	var (
		data, config, out, resume, device string
		world, maxSteps, logEvery         int
		threads                           int
		seed                              int64
		peakGFLOPS                        float64
		sets                              repeated
	)
	register(&Command{
		Path:    "train stage1",
		Short:   "stage 1: masked student aligned to the teacher's unmasked tokens",
		Aliases: map[string]string{"out": "output"},
		Long: `Trains UMT's stage-1 student on a dataset written by 'umt prep': each step draws every
clip's semantic mask from the stored teacher attention, runs the student on the visible tokens
and aligns its last K blocks to the stored teacher features (mean of 2 − 2·cos), then applies
AdamW with linear warmup and cosine decay (lr scaled by the global batch as UMT does).

--config takes a JSON file or a bundled preset: tiny (CPU smoke runs), b16, l16 (UMT's recipes:
64 clips × 32 ranks, 201 epochs). A file may say {"preset": "b16", ...} and override fields;
--set key=value (repeatable) overrides one field without a file, by its JSON name, dotted into
objects (--set batch_size=4 --set model.depth=6 --set optim.weight_decay=0). A preset takes
what the dataset's provenance fixes and the log says so: model.return_layers (the stored
teacher layers), model.clip_dim (the teacher's dim), mask_ratio, and masks "among" for a
visible:M layout; fields of a config file and --set are kept, and a mismatch is an error naming
the --set that fixes it. The fields are listed in configs/README.md.
Every --log-every steps it prints loss, lr, grad norm, clips/s and estimated MFU; every step is
appended to OUTPUT/metrics.jsonl; checkpoints go to OUTPUT/checkpoints (step-N/ with model.safetensors
in the official PyTorch state-dict naming, AdamW state and state.json; 'latest' names the newest);
OUTPUT/loss.png is drawn at the end. Ctrl-C stops after the current step and checkpoints.
A config's world (UMT: 32 ranks × 64 clips) is run on this one device: every step takes each
rank's batch in turn and averages the gradients, the update UMT's 32-GPU DDP makes; use
--world 1 for plain single-device batches. Multi-process training is not built.
--resume continues a run bit for bit (same weights, optimiser state, data order and masks).

Examples:
  umt train stage1 --data out/demo --config tiny --output out/demo-run --max-steps 20
  umt train stage1 --data /tmp/ds --config tiny --set batch_size=4 --set lr=0.05 --output /tmp/run
  umt train stage1 --data gs://bucket/k710 --config b16 --output /ckpt/b16 --device cuda
  umt train stage1 --data /tmp/ds --config tiny --output /tmp/run --resume /tmp/run/checkpoints`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&data, "data", "", "dataset: local directory or gs:// prefix written by 'umt prep' (required)")
			fs.StringVar(&config, "config", "tiny", "training config: a preset name (tiny, b16, l16) or a JSON file")
			sets = nil
			fs.Var(&sets, "set", "override one config field: key=value, JSON names dotted into objects (model.depth=6); repeatable")
			fs.StringVar(&out, "output", "runs/stage1", "run directory for checkpoints, metrics.jsonl and loss.png")
			fs.StringVar(&resume, "resume", "", "checkpoint to continue from: a checkpoints/ directory (follows 'latest') or one step-N/ directory")
			fs.StringVar(&device, "device", "auto", "compute backend: auto (the GPU when one works, else the CPU), cpu, cuda or cuda:N")
			fs.IntVar(&world, "world", 0, "data-parallel ranks, run in turn on this device with averaged gradients (overrides the config; 1 = plain single-device batches)")
			fs.IntVar(&maxSteps, "max-steps", -1, "stop after this many steps (overrides the config; 0 = whole schedule)")
			fs.IntVar(&logEvery, "log-every", -1, "steps between log lines (overrides the config)")
			fs.IntVar(&threads, "threads", 0, "CPU threads (0 = all)")
			fs.Int64Var(&seed, "seed", -1, "seed for data order, masks and drop path (overrides the config)")
			fs.Float64Var(&peakGFLOPS, "peak-gflops", 0, "device peak float32 GFLOP/s for the MFU estimate (0 = estimate from the CPU or GPU model)")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments %q", args)
			}
			if data == "" {
				return usagef("--data is required (a dataset directory or gs:// prefix written by 'umt prep')")
			}
			rec, err := stage1.LoadRecipe(config, sets)
			if err != nil {
				return usagef("%v", err)
			}
			cfg := &rec.Config
			if world > 0 {
				cfg.World = world
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
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			ds, err := shard.Open(ctx, data)
			if err != nil {
				return fmt.Errorf("opening %s: %w", data, err)
			}
			defer ds.Close()
			for _, n := range rec.FitDataset(ds.Provenance()) {
				fmt.Fprintf(stdout, "config: %s\n", n)
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
			peak := devicePeak(dev)
			if peakGFLOPS > 0 {
				peak = peakGFLOPS * 1e9
			}
			tr, err := stage1.New(be, *cfg, ds, ds.Provenance(), stage1.Options{Out: out, Log: stdout, PeakFLOPS: peak})
			if err != nil {
				return err
			}
			defer tr.Close()
			if resume != "" {
				if err := tr.Resume(resume); err != nil {
					return fmt.Errorf("resuming from %s: %w", resume, err)
				}
				dir, _ := weights.ResolveCheckpoint(resume)
				fmt.Fprintf(stdout, "resumed from %s at step %d\n", dir, tr.Steps)
			}
			err = tr.Run(ctx)
			if ctx.Err() != nil {
				fmt.Fprintf(stdout, "interrupted at step %d; resume with --resume %s\n", tr.Steps, filepath.Join(out, "checkpoints"))
				return nil
			}
			return err
		},
	})
}

// devicePeak is the float32 peak FLOP/s of the device for the MFU estimate (0 if unknown).
func devicePeak(d *kernels.Device) float64 {
	if d.Kind == kernels.KindCPU {
		return cpuPeak(d.Threads)
	}
	return gpuPeak(d.Backend.Name())
}

// cpuPeak estimates the float32 peak of threads cores from /proc/cpuinfo: the clock times the
// FLOP per cycle of the vector units (readCPUInfo). 0 if unknown.
func cpuPeak(threads int) float64 {
	_, mhz, perCycle := readCPUInfo()
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return float64(threads) * mhz * 1e6 * perCycle
}

// readCPUInfo reads the first CPU's model name and clock from /proc/cpuinfo, and its float32
// FLOP per cycle: 32 with AVX2+FMA (two 8-wide FMA units), 64 with AVX-512, 8 otherwise.
// Empty and 0 where the file is absent (not Linux).
func readCPUInfo() (model string, mhz, perCycle float64) {
	perCycle = 8
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "", 0, perCycle
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if model == "" {
				model = strings.TrimSpace(v)
			}
		case "cpu MHz":
			if mhz == 0 {
				mhz, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			}
		case "flags":
			fl := " " + v + " "
			if strings.Contains(fl, " avx512f ") {
				perCycle = 64
			} else if strings.Contains(fl, " avx2 ") && strings.Contains(fl, " fma ") && perCycle < 32 {
				perCycle = 32
			}
		}
	}
	return model, mhz, perCycle
}

// gpuPeak is the dense float32 (non-tensor-core) peak of known GPUs; 0 if unknown.
func gpuPeak(name string) float64 {
	for _, g := range []struct {
		sub  string
		peak float64
	}{{"H200", 67e12}, {"H100", 67e12}, {"A100", 19.5e12}, {"L4", 30e12}, {"A10", 31e12}} {
		if strings.Contains(name, g.sub) {
			return g.peak
		}
	}
	return 0
}

// repeated is a flag that may be given several times; it keeps every value in order.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
