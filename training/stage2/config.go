package stage2

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/umt-dev/umt/configs"
	"github.com/umt-dev/umt/models/bert"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/stage1"
)

// Config is a stage-2 recipe (configs/stage2/*.json). The text encoder's architecture comes
// from its weights (--text, by default text_encoder).
type Config struct {
	Vision vit.Config `json:"vision"` // stage2 true
	// TextEncoder is the default --text (bert-base-uncased for B, bert-large-uncased for L);
	// FusionLayer is the first of its layers with cross-attention (UMT's 9 or 19; 0 keeps what
	// the weights say or UMT's default for their size).
	TextEncoder    string  `json:"text_encoder"`
	FusionLayer    int     `json:"fusion_layer"`
	EmbedDim       int     `json:"embed_dim"`
	TempInit       float64 `json:"temp_init"`
	MLMProb        float64 `json:"mlm_masking_prob"`
	BatchSize      int     `json:"batch_size"`       // video clips per step (all GPUs: VTC negatives are global)
	ImageBatchSize int     `json:"image_batch_size"` // images per step
	// Ranks is the official run's GPU count: both batches split into Ranks consecutive
	// per-GPU batches: VTM draws each clip's hard negatives within its own, as each official
	// rank draws from its local batch, MLM is the mean of the ranks' means, and VTC (which sees
	// the whole batch) reaches the encoders with 1/Ranks of its gradient (multimodal.Step).
	Ranks          int     `json:"ranks"`
	Epochs         int     `json:"epochs"`
	WarmupEpochs   int     `json:"warmup_epochs"`
	LR             float64 `json:"lr"`           // base lr, not batch-scaled
	MinLRMulti     float64 `json:"min_lr_multi"` // floor of the LambdaLR multiplier
	MaxTxtL        int     `json:"max_txt_l"`    // caption ids per clip the datasets must store
	VideoMaskRatio float64 `json:"video_mask_ratio"`
	ImageMaskRatio float64 `json:"image_mask_ratio"`
	Seed           uint64  `json:"seed"`
	MaxSteps       int     `json:"max_steps"` // stop early (0 = the whole schedule)
	LogEvery       int     `json:"log_every"`
	CkptEvery      int     `json:"ckpt_every"`
}

// LoadConfig reads --config (a bundled preset name or a JSON file, which may name a preset
// in "preset" and override its fields) and applies the --set overrides in order.
func LoadConfig(arg string, sets []string) (Config, error) {
	var c Config
	b, err := configs.Stage2Preset(arg)
	if err != nil {
		if b, err = os.ReadFile(arg); err != nil {
			return c, fmt.Errorf("stage2: --config %s is neither a preset (%v) nor a readable file", arg, configs.Stage2Names())
		}
		var head struct {
			Preset string `json:"preset"`
		}
		if json.Unmarshal(b, &head) == nil && head.Preset != "" {
			base, err := configs.Stage2Preset(head.Preset)
			if err != nil {
				return c, err
			}
			if err := decodeConfig(base, &c); err != nil {
				return c, err
			}
		}
	}
	if err := decodeConfig(b, &c); err != nil {
		return c, fmt.Errorf("stage2: --config %s: %w", arg, err)
	}
	for _, kv := range sets {
		if _, err := stage1.SetField(&c, "stage2", kv); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

func decodeConfig(b []byte, c *Config) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	delete(raw, "preset")
	clean, _ := json.Marshal(raw)
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	return dec.Decode(c)
}

// Validate reports the first field that cannot run, naming the --set that fixes it.
func (c Config) Validate() error {
	if !c.Vision.Stage2 {
		return fmt.Errorf("stage2: the vision encoder must be the stage-2 variant: --set vision.stage2=true")
	}
	if err := c.Vision.Validate(); err != nil {
		return fmt.Errorf("stage2: vision: %w", err)
	}
	switch {
	case c.FusionLayer < 0:
		return fmt.Errorf("stage2: fusion_layer %d must not be negative (0 keeps the text weights' own): --set fusion_layer=9", c.FusionLayer)
	case c.EmbedDim <= 0:
		return fmt.Errorf("stage2: embed_dim %d must be positive: --set embed_dim=%d", c.EmbedDim, 512)
	case !(c.TempInit >= multimodal.TempMin && c.TempInit <= multimodal.TempMax):
		return fmt.Errorf("stage2: temp_init %v must lie in [%g, %g]: --set temp_init=0.07", c.TempInit, multimodal.TempMin, multimodal.TempMax)
	case !(c.MLMProb > 0 && c.MLMProb < 1):
		return fmt.Errorf("stage2: mlm_masking_prob %v must lie in (0, 1): --set mlm_masking_prob=0.5", c.MLMProb)
	case c.BatchSize <= 0:
		return fmt.Errorf("stage2: batch_size %d must be positive: --set batch_size=2", c.BatchSize)
	case c.ImageBatchSize <= 0:
		return fmt.Errorf("stage2: image_batch_size %d must be positive: --set image_batch_size=2", c.ImageBatchSize)
	case c.Ranks <= 0:
		return fmt.Errorf("stage2: ranks %d must be positive (1 draws VTM negatives from the whole batch): --set ranks=1", c.Ranks)
	case c.BatchSize%c.Ranks != 0 || c.BatchSize/c.Ranks < 2 || c.ImageBatchSize%c.Ranks != 0 || c.ImageBatchSize/c.Ranks < 2:
		return fmt.Errorf("stage2: batch_size %d and image_batch_size %d must each split into ranks %d batches of at least 2 (VTM draws a clip's negative from its own): %s",
			c.BatchSize, c.ImageBatchSize, c.Ranks, splitRanks(c.Ranks, c.BatchSize, c.ImageBatchSize))
	case c.Epochs <= 0:
		return fmt.Errorf("stage2: epochs %d must be positive: --set epochs=10", c.Epochs)
	case c.WarmupEpochs < 0 || c.WarmupEpochs > c.Epochs:
		return fmt.Errorf("stage2: warmup_epochs %d must lie in [0, epochs %d]: --set warmup_epochs=%d", c.WarmupEpochs, c.Epochs, min(1, c.Epochs))
	case !(c.LR > 0):
		return fmt.Errorf("stage2: lr %v must be positive: --set lr=1e-4", c.LR)
	case !(c.MinLRMulti >= 0 && c.MinLRMulti <= 1):
		return fmt.Errorf("stage2: min_lr_multi %v must lie in [0, 1]: --set min_lr_multi=0.01", c.MinLRMulti)
	case c.MaxTxtL < 2:
		return fmt.Errorf("stage2: max_txt_l %d must be at least 2 ([CLS] and a word): --set max_txt_l=32", c.MaxTxtL)
	case !(c.VideoMaskRatio >= 0 && c.VideoMaskRatio < 1):
		return fmt.Errorf("stage2: video_mask_ratio %v must lie in [0, 1): --set video_mask_ratio=0.8", c.VideoMaskRatio)
	case !(c.ImageMaskRatio >= 0 && c.ImageMaskRatio < 1):
		return fmt.Errorf("stage2: image_mask_ratio %v must lie in [0, 1): --set image_mask_ratio=0.5", c.ImageMaskRatio)
	case c.MaxSteps < 0 || c.LogEvery < 0 || c.CkptEvery < 0:
		return fmt.Errorf("stage2: max_steps %d, log_every %d and ckpt_every %d must not be negative: --set max_steps=0", c.MaxSteps, c.LogEvery, c.CkptEvery)
	}
	return nil
}

// splitRanks is the override that splits both batch sizes: the largest rank count up to ranks
// that leaves at least 2 per rank, or batch sizes of 2 per rank.
func splitRanks(ranks, video, image int) string {
	for r := ranks; r >= 1; r-- {
		if video%r == 0 && image%r == 0 && video/r >= 2 && image/r >= 2 {
			return fmt.Sprintf("--set ranks=%d", r)
		}
	}
	return fmt.Sprintf("--set batch_size=%d --set image_batch_size=%d", 2*ranks, 2*ranks)
}

// Data is the config's data options.
func (c Config) Data() Data {
	return Data{VideoMaskRatio: c.VideoMaskRatio, ImageMaskRatio: c.ImageMaskRatio, Seed: c.Seed}
}

// Model is the multimodal model of this recipe over a text encoder of architecture text.
func (c Config) Model(text bert.Config) multimodal.Config {
	return multimodal.Config{Vision: c.Vision, Text: text, EmbedDim: c.EmbedDim, TempInit: c.TempInit, MLMProb: c.MLMProb}
}
