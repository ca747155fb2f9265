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

// Validate checks every field.
func (c Config) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	switch {
	case c.BatchSize <= 0:
		return fmt.Errorf("stage1: batch_size %d must be positive", c.BatchSize)
	case c.World <= 0:
		return fmt.Errorf("stage1: world %d must be positive", c.World)
	case c.Epochs <= 0 || c.WarmupEpochs < 0 || c.WarmupEpochs >= c.Epochs:
		return fmt.Errorf("stage1: need 0 <= warmup_epochs (%d) < epochs (%d)", c.WarmupEpochs, c.Epochs)
	case !(c.LR > 0) || c.MinLR < 0 || c.MinLR > c.LR:
		return fmt.Errorf("stage1: need 0 <= min_lr (%v) <= lr (%v), lr > 0", c.MinLR, c.LR)
	case !(c.MaskRatio >= 0 && c.MaskRatio < 1):
		return fmt.Errorf("stage1: mask_ratio %v must lie in [0, 1)", c.MaskRatio)
	case c.Masks != MasksSample && c.Masks != MasksStored && c.Masks != MasksAmong:
		return fmt.Errorf("stage1: masks %q must be %s, %s or %s", c.Masks, MasksSample, MasksStored, MasksAmong)
	case c.Optim.Beta1 < 0 || c.Optim.Beta1 >= 1 || c.Optim.Beta2 < 0 || c.Optim.Beta2 >= 1 || c.Optim.Eps <= 0 || c.Optim.WeightDecay < 0 || c.Optim.ClipGrad < 0:
		return fmt.Errorf("stage1: optim %+v: betas in [0,1), eps > 0, weight_decay and clip_grad >= 0", c.Optim)
	case c.LogEvery < 0 || c.CkptEvery < 0 || c.MaxSteps < 0:
		return fmt.Errorf("stage1: log_every, ckpt_every and max_steps must be >= 0")
	case c.Model.Tubelet != 1:
		return fmt.Errorf("stage1: tubelet %d: the stored teacher attention is per frame, so training needs tubelet 1 (as UMT)", c.Model.Tubelet)
	}
	return nil
}

// PeakLR and FinalLR are the scaled learning rates (UMT's linear rule over the global batch).
func (c Config) PeakLR() float64  { return optim.ScaleLR(c.LR, c.BatchSize*c.World, 1) }
func (c Config) FinalLR() float64 { return optim.ScaleLR(c.MinLR, c.BatchSize*c.World, 1) }
