package stage2

import (
	"context"
	"fmt"
	"os"

	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights"
)

// VisionInit is the stage-2 vision encoder's initial parameters from a stage-1 student: a
// checkpoint of ours (a root with `latest` or a step directory; its files are verified) or a
// raw safetensors state dict in the official naming (the released stage-1 weights converted,
// or our exported model.safetensors). Tensors are loaded with load_state_dict(strict=False)
// semantics over vit.InitParams(c, seed); the report says which were new (pool_norm: weight 1,
// bias 0) and which were ignored.
func VisionInit(path string, c vit.Config, seed uint64) ([]float32, multimodal.Stage1Load, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, multimodal.Stage1Load{}, err
	}
	sd := map[string]*weights.Tensor{}
	if fi.IsDir() {
		ck, err := vit.LoadCheckpoint(path)
		if err != nil {
			return nil, multimodal.Stage1Load{}, err
		}
		ts, err := vit.StateFromParams(ck.Cfg, ck.Params)
		if err != nil {
			return nil, multimodal.Stage1Load{}, err
		}
		for i := range ts {
			sd[ts[i].Name] = &ts[i]
		}
	} else {
		f, err := weights.Open(path)
		if err != nil {
			return nil, multimodal.Stage1Load{}, err
		}
		defer f.Close()
		sd = f.Tensors
	}
	flat, rep, err := multimodal.VisionFromStage1(c, vit.InitParams(c, seed), sd)
	if err != nil {
		return nil, rep, fmt.Errorf("stage2: %s: %w", path, err)
	}
	if len(rep.Loaded) == 0 {
		return nil, rep, fmt.Errorf("stage2: %s holds no tensor of the student (is it wrapped, e.g. {\"model\": …}? unwrap it first)", path)
	}
	return flat, rep, nil
}

// LoadText loads the text encoder from spec (the config's text_encoder when empty) as UMT's
// builder sets it up: cross-attention over the vision width from fusion_layer on, new tensors
// seeded from the run's seed. Weights whose own fusion layer differs (a UMT checkpoint) are
// refused with the --set that matches them.
func (c Config) LoadText(ctx context.Context, spec string) (*bert.Loaded, error) {
	if spec == "" {
		spec = c.TextEncoder
	}
	if spec == "" {
		return nil, fmt.Errorf("stage2: no text encoder: pass --text hf:bert-base-uncased (or --set text_encoder=...)")
	}
	l, err := bert.Load(ctx, spec, bert.LoadOptions{EncoderWidth: c.Vision.Dim, FusionLayer: c.FusionLayer, Seed: c.Seed + 1, Hub: &weights.Hub{}})
	if err != nil {
		return nil, err
	}
	if c.FusionLayer != 0 && l.Cfg.FusionLayer != c.FusionLayer {
		return nil, fmt.Errorf("stage2: text encoder %s fuses from layer %d, the config from %d: --set fusion_layer=%d", spec, l.Cfg.FusionLayer, c.FusionLayer, l.Cfg.FusionLayer)
	}
	return l, nil
}
