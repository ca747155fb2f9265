package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/transforms/storage"
)

func init() {
	var (
		weightsSpec, configFile, framesPath, framesTensor, outPath string
		device                                                     string
		mean, std                                                  string
		threads, maxFrames                                         int
		pureGo                                                     bool
		cfg                                                        clip.Config
	)
	register(&Command{
		Path:  "inspect teacher",
		Short: "run the CLIP teacher on frames from a safetensors file",
		// The spellings before prep's words were used here too; they still parse.
		Aliases: map[string]string{"weights": "teacher", "config": "teacher-config", "out": "output",
			"resolution": "teacher-resolution", "return-layers": "teacher-layers", "return-interval": "teacher-interval"},
		Long: `Runs the CLIP teacher (as UMT uses it) on uint8 RGB frames [B,T,H,W,3] read from a
safetensors file and writes the features [K,B,T*HW,O] ("features"), the last block's CLS->patch
attention averaged over heads [B*T,HW] ("attn_cls") and the returned block indices
("return_layer_indices") to --output, with the complete teacher config in the file's metadata.

--teacher takes the forms prep's --teacher does: hf:owner/name (fetched into the cache,
checksum-verified), a Hugging Face model directory (config.json + model.safetensors), or a
safetensors file in OpenAI (visual.* or stripped) or HF naming; shape flags default to the
weights' shapes, heads to width/64, --teacher-resolution to 14*patch (UMT: 224 for B/16, 196
for L/14).

Examples:
  umt inspect teacher --teacher hf:openai/clip-vit-base-patch16 --frames clip.safetensors --output feats.safetensors
  umt inspect teacher --teacher testdata/refdata/umt/teacher_tiny_openai.safetensors \
      --heads 4 --teacher-resolution 64 --teacher-layers 2 \
      --frames testdata/refdata/umt/teacher_tiny_io.safetensors --output /tmp/teacher.safetensors
  umt inspect teacher --teacher vit_l14.safetensors --teacher-config teacher.json --norm none \
      --frames f.safetensors --output o.safetensors`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&weightsSpec, "teacher", "", "teacher weights: hf:NAME, a Hugging Face model directory or a safetensors file (required)")
			fs.StringVar(&configFile, "teacher-config", "", "teacher config: Hugging Face config.json or a JSON of width, layers, heads, patch, output_dim, resolution, return_layers, ...")
			fs.StringVar(&framesPath, "frames", "", "safetensors file holding uint8 frames [B,T,H,W,3] (required)")
			fs.StringVar(&framesTensor, "frames-tensor", "", "name of the frames tensor (default: the only 5-D U8 tensor)")
			fs.StringVar(&outPath, "output", "", "output safetensors file (required)")
			fs.IntVar(&cfg.Width, "width", 0, "transformer width (default: from the weights)")
			fs.IntVar(&cfg.Layers, "layers", 0, "residual blocks (default: from the weights)")
			fs.IntVar(&cfg.Heads, "heads", 0, "attention heads (default: config, else width/64)")
			fs.IntVar(&cfg.Patch, "patch", 0, "patch size (default: from the weights)")
			fs.IntVar(&cfg.OutputDim, "output-dim", 0, "projection output dim (default: from the weights)")
			fs.IntVar(&cfg.Resolution, "teacher-resolution", 0, "input resolution the teacher runs at (default 14*patch)")
			fs.IntVar(&cfg.ReturnLayers, "teacher-layers", 0, "K, number of returned blocks (default 6)")
			fs.Float64Var(&cfg.ReturnInterval, "teacher-interval", 0, "spacing of returned blocks counted from the last, UMT's clip_return_interval (a float; default 1)")
			fs.StringVar(&cfg.Norm, "norm", "", `"l2" (stage-1 teacher, default) or "none" (stage-2 teacher)`)
			fs.StringVar(&mean, "mean", "", "per-channel mean r,g,b of [0,1] pixels (default ImageNet)")
			fs.StringVar(&std, "std", "", "per-channel std r,g,b (default ImageNet)")
			fs.StringVar(&device, "device", "cpu", "compute backend: cpu (the float32 reference), auto (the GPU when one works, else the CPU), cuda or cuda:N")
			fs.IntVar(&threads, "threads", 0, "CPU threads (default: all)")
			fs.IntVar(&maxFrames, "max-frames", 0, "frames processed together (default 8)")
			fs.BoolVar(&pureGo, "pure-go", false, "use the pure-Go GEMM instead of OpenBLAS")
		},
		Exec: func(args []string) error {
			if len(args) > 0 {
				return usagef("inspect teacher takes no positional arguments (got %q)", args)
			}
			if weightsSpec == "" || framesPath == "" || outPath == "" {
				return usagef("--teacher, --frames and --output are required")
			}
			var err error
			if cfg.Mean, err = parseTriple("mean", mean); err != nil {
				return err
			}
			if cfg.Std, err = parseTriple("std", std); err != nil {
				return err
			}
			return inspectTeacher(weightsSpec, configFile, framesPath, framesTensor, outPath, cfg, device, kernels.Options{Threads: threads, PureGo: pureGo}, maxFrames)
		},
	})
}

// parseTriple reads "a,b,c" (empty means unset).
func parseTriple(name, s string) ([3]float32, error) {
	var v [3]float32
	if s == "" {
		return v, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return v, usagef("--%s wants three comma-separated numbers, got %q", name, s)
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return v, usagef("--%s: %v", name, err)
		}
		v[i] = float32(f)
	}
	return v, nil
}

func inspectTeacher(spec, configFile, framesPath, framesTensor, outPath string, flags clip.Config, device string, o kernels.Options, maxFrames int) error {
	w, cfg, err := clip.Load(context.Background(), spec, clip.LoadOptions{Config: flags, ConfigFile: configFile})
	if err != nil {
		return err
	}
	ff, err := weights.Open(framesPath)
	if err != nil {
		return err
	}
	defer ff.Close()
	ft, err := findFrames(ff, framesTensor)
	if err != nil {
		return fmt.Errorf("%s: %w", framesPath, err)
	}
	frames, _ := ft.Uint8()
	B, T, H, W := ft.Shape[0], ft.Shape[1], ft.Shape[2], ft.Shape[3]

	dev, err := kernels.Open(device, o)
	if err != nil {
		return err
	}
	defer dev.Close()
	tch, err := clip.New(dev.Backend, cfg, w, clip.Options{MaxFrames: maxFrames})
	if err != nil {
		return err
	}
	defer tch.Close()
	start := time.Now()
	feats, attn, err := tch.Encode(frames, B, T, H, W)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	ret := cfg.ReturnIndices()
	idx := make([]byte, 8*len(ret))
	for i, r := range ret {
		for j := 0; j < 8; j++ {
			idx[8*i+j] = byte(uint64(r) >> (8 * j))
		}
	}
	cj, _ := json.Marshal(cfg)
	HW := cfg.Tokens()
	out, err := weights.Marshal([]weights.Tensor{
		weights.F32Tensor("features", []int{cfg.ReturnLayers, B, T * HW, cfg.OutputDim}, feats),
		weights.F32Tensor("attn_cls", []int{B * T, HW}, attn),
		{Name: "return_layer_indices", DType: "I64", Shape: []int{len(ret)}, Data: idx},
	}, map[string]string{"teacher_config": string(cj), "weights": spec, "backend": dev.Backend.Name()})
	if err != nil {
		return err
	}
	if err := storage.WriteFile(context.Background(), outPath, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d frames (%dx%d -> %d), features [%d %d %d %d], attn_cls [%d %d] in %.2fs (%.2f frames/s, %s)\n",
		outPath, B*T, H, W, cfg.Resolution, cfg.ReturnLayers, B, T*HW, cfg.OutputDim, B*T, HW,
		elapsed.Seconds(), float64(B*T)/elapsed.Seconds(), dev.Backend.Name())
	return nil
}

// findFrames picks the frames tensor: the named one, else the only 5-D U8 tensor.
func findFrames(f *weights.File, name string) (*weights.Tensor, error) {
	var t *weights.Tensor
	if name != "" {
		if t = f.Get(name); t == nil {
			return nil, fmt.Errorf("no tensor %q (have %s)", name, strings.Join(f.Names(), ", "))
		}
	} else {
		for _, n := range f.Names() {
			if c := f.Get(n); c.DType == "U8" && len(c.Shape) == 5 {
				if t != nil {
					return nil, fmt.Errorf("several 5-D U8 tensors (%s, %s): choose one with --frames-tensor", t.Name, n)
				}
				t = c
			}
		}
		if t == nil {
			return nil, fmt.Errorf("no 5-D U8 tensor [B,T,H,W,3] of frames (have %s)", strings.Join(f.Names(), ", "))
		}
	}
	if t.DType != "U8" || len(t.Shape) != 5 || t.Shape[4] != 3 {
		return nil, fmt.Errorf("tensor %s is %s %v, want U8 [B,T,H,W,3]", t.Name, t.DType, t.Shape)
	}
	return t, nil
}
