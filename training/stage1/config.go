package stage1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/umt-dev/umt/configs"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/optim"
)

// Mask modes: how a step picks each clip's visible tokens.
const (
	MasksSample = "sample" // fresh weighted draw from the stored CLS attention (needs the full layout)
	MasksStored = "stored" // one of the M masks drawn at prep time, chosen per (clip, epoch)
	MasksAmong  = "among"  // fresh weighted draw restricted to the tokens a visible:M shard stored
)

// Config is a stage-1 recipe (configs/*.json).
type Config struct {
	Preset       string      `json:"preset,omitempty"` // start from a bundled preset, then apply this file
	Model        vit.Config  `json:"model"`
	BatchSize    int         `json:"batch_size"`    // clips per rank per step (UMT: 64)
	World        int         `json:"world"`         // ranks (UMT: 32); the global batch scales the lr
	Epochs       int         `json:"epochs"`        // schedule length (UMT: 201)
	WarmupEpochs int         `json:"warmup_epochs"` // linear warmup from 0 (UMT: 40)
	LR           float64     `json:"lr"`            // base lr per 256 clips (UMT: 1.5e-4)
	MinLR        float64     `json:"min_lr"`        // base final lr per 256 clips (UMT: 1e-5)
	Optim        optim.Hyper `json:"optim"`
	MaskRatio    float64     `json:"mask_ratio"` // 0.8; must equal the dataset's
	Masks        string      `json:"masks"`      // sample | stored | among
	Seed         uint64      `json:"seed"`       // data order, masks, drop path
	LogEvery     int         `json:"log_every"`  // steps between log lines
	CkptEvery    int         `json:"ckpt_every"` // steps between checkpoints (0: only at the end)
	MaxSteps     int         `json:"max_steps"`  // stop after this many steps (0: the whole schedule)
}

// ParseConfig reads a config: a file's JSON, or a preset name.
func ParseConfig(b []byte) (Config, error) {
	var head struct {
		Preset string `json:"preset"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Config{}, fmt.Errorf("stage1: config: %w", err)
	}
	var c Config
	if head.Preset != "" {
		pb, err := configs.Preset(head.Preset)
		if err != nil {
			return c, err
		}
		if c, err = decode(pb); err != nil {
			return c, fmt.Errorf("stage1: preset %s: %w", head.Preset, err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("stage1: config: %w (fields are documented in training/stage1/config.go)", err)
	}
	return c, c.Validate()
}

func decode(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	return c, err
}

// LoadConfig reads a config file, or a bundled preset when arg names one ("tiny", "b16", "l16").
func LoadConfig(arg string) (Config, error) {
	if b, err := configs.Preset(arg); err == nil {
		return ParseConfig(b)
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return Config{}, fmt.Errorf("stage1: --config %q is neither a file nor a preset (%v): %w", arg, configs.Names(), err)
	}
	return ParseConfig(b)
}

// Validate checks every field; each error names the --set override that fixes it.
func (c Config) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return fmt.Errorf("stage1: model: %w; %s", err, modelFix(c.Model))
	}
	switch {
	case c.BatchSize <= 0:
		return fmt.Errorf("stage1: batch_size %d must be positive; use --set batch_size=1", c.BatchSize)
	case c.World <= 0:
		return fmt.Errorf("stage1: world %d must be positive; use --world 1", c.World)
	case c.Epochs <= 0:
		return fmt.Errorf("stage1: epochs %d must be positive; use --set epochs=%d", c.Epochs, c.WarmupEpochs+1)
	case c.WarmupEpochs < 0 || c.WarmupEpochs >= c.Epochs:
		return fmt.Errorf("stage1: need 0 <= warmup_epochs (%d) < epochs (%d); use --set warmup_epochs=%d", c.WarmupEpochs, c.Epochs, c.Epochs/5)
	case !(c.LR > 0):
		return fmt.Errorf("stage1: lr %v must be positive; use --set lr=%.3g", c.LR, max(1.5e-4, 15*c.MinLR))
	case c.MinLR < 0 || c.MinLR > c.LR:
		return fmt.Errorf("stage1: need 0 <= min_lr (%v) <= lr (%v); use --set min_lr=%.3g", c.MinLR, c.LR, c.LR/15)
	case !(c.MaskRatio >= 0 && c.MaskRatio < 1):
		return fmt.Errorf("stage1: mask_ratio %v must lie in [0, 1); use --set mask_ratio=0.8", c.MaskRatio)
	case c.Masks != MasksSample && c.Masks != MasksStored && c.Masks != MasksAmong:
		return fmt.Errorf("stage1: masks %q must be %s, %s or %s; use --set masks=%s", c.Masks, MasksSample, MasksStored, MasksAmong, MasksSample)
	case c.Optim.Beta1 < 0 || c.Optim.Beta1 >= 1 || c.Optim.Beta2 < 0 || c.Optim.Beta2 >= 1 || c.Optim.Eps <= 0 || c.Optim.WeightDecay < 0 || c.Optim.ClipGrad < 0:
		return fmt.Errorf("stage1: optim %+v: betas in [0,1), eps > 0, weight_decay and clip_grad >= 0; UMT's are --set optim.beta1=0.9 --set optim.beta2=0.95 --set optim.eps=1e-8 --set optim.weight_decay=0.05 --set optim.clip_grad=0", c.Optim)
	case c.LogEvery < 0 || c.CkptEvery < 0 || c.MaxSteps < 0:
		return fmt.Errorf("stage1: log_every (%d), ckpt_every (%d) and max_steps (%d) must be >= 0; use --set log_every=%d --set ckpt_every=%d --set max_steps=%d", c.LogEvery, c.CkptEvery, c.MaxSteps, max(c.LogEvery, 0), max(c.CkptEvery, 0), max(c.MaxSteps, 0))
	case c.Model.Tubelet != 1:
		return fmt.Errorf("stage1: tubelet %d: the stored teacher attention is per frame, so training needs tubelet 1 (as UMT); use --set model.tubelet=1", c.Model.Tubelet)
	}
	return nil
}

// modelFix names the override that repairs the first field vit.Config.Validate rejects.
func modelFix(m vit.Config) string {
	switch {
	case m.Patch <= 0 || m.ImgSize <= 0 || m.ImgSize%m.Patch != 0:
		return fmt.Sprintf("use --set model.patch=16 --set model.img_size=%d", max(16, (m.ImgSize+15)/16*16))
	case m.Tubelet <= 0 || m.Frames <= 0 || m.Frames%m.Tubelet != 0:
		return fmt.Sprintf("use --set model.tubelet=1 --set model.frames=%d", max(1, m.Frames))
	case m.Heads <= 0 || m.Dim <= 0 || m.Dim%m.Heads != 0:
		return fmt.Sprintf("use --set model.heads=%d --set model.dim=%d", max(1, m.Dim/64), max(64, (m.Dim+63)/64*64))
	case m.Depth <= 0 || m.MLPRatio <= 0 || m.ClipDim <= 0:
		return fmt.Sprintf("use --set model.depth=%d --set model.mlp_ratio=%d --set model.clip_dim=%d", max(1, m.Depth, m.ReturnLayers), max(1, m.MLPRatio), max(1, m.ClipDim))
	case m.ReturnLayers <= 0 || m.ReturnLayers > m.Depth:
		return fmt.Sprintf("use --set model.return_layers=%d (or --set model.depth=%d)", max(1, min(m.ReturnLayers, m.Depth)), max(1, m.ReturnLayers))
	case m.DropPath < 0 || m.DropPath >= 1:
		return "use --set model.drop_path=0.1"
	case m.ReturnIndex() == nil: // the interval puts a block below 0 or repeats one
		fit := 1
		if m.ReturnLayers > 1 {
			fit = max(1, (m.Depth-1)/(m.ReturnLayers-1))
		}
		return fmt.Sprintf("use --set model.return_interval=%d (the widest spacing of %d blocks in %d) or fewer model.return_layers", fit, m.ReturnLayers, m.Depth)
	}
	return "see configs/README.md for the model fields"
}

// PeakLR and FinalLR are the scaled learning rates (UMT's linear rule over the global batch).
func (c Config) PeakLR() float64  { return optim.ScaleLR(c.LR, c.BatchSize*c.World, 1) }
func (c Config) FinalLR() float64 { return optim.ScaleLR(c.MinLR, c.BatchSize*c.World, 1) }
