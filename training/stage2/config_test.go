package stage2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/configs"
)

// TestPresetsFollowTheOfficialRecipe: every bundled stage-2 preset validates, and the official
// ones carry exp/pretraining's settings (UMT.md §2.1, §2.7): lr 1e-4, 1 warmup epoch of 10,
// min_lr_multi 0.01, max_txt_l 32, mask ratios 0.8 / 0.5, 128 clips per GPU × 16 (B) or 32 (L).
func TestPresetsFollowTheOfficialRecipe(t *testing.T) {
	names := configs.Stage2Names()
	if strings.Join(names, " ") != "b16_25m b16_5m l16_25m tiny" {
		t.Fatalf("presets %v", names)
	}
	for _, name := range names {
		c, err := LoadConfig(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.LR != 1e-4 || c.MinLRMulti != 0.01 || c.WarmupEpochs != 1 || c.Epochs != 10 || c.MaxTxtL != 32 ||
			c.VideoMaskRatio != 0.8 || c.ImageMaskRatio != 0.5 || c.TempInit != 0.07 || c.MLMProb != 0.5 || !c.Vision.Stage2 {
			t.Errorf("%s: %+v departs from the official recipe", name, c)
		}
		if name == "tiny" {
			continue
		}
		gpus, dim, embed, drop := 16, 768, 512, 0.1
		if strings.HasPrefix(name, "l16") {
			gpus, dim, embed, drop = 32, 1024, 768, 0.2
		}
		v := c.Vision
		if c.BatchSize != 128*gpus || c.ImageBatchSize != 128*gpus || v.Dim != dim || c.EmbedDim != embed || v.DropPath != drop ||
			v.ImgSize != 224 || v.Patch != 16 || v.Frames != 4 || v.ReturnLayers != 6 {
			t.Errorf("%s: batch %d/%d, dim %d, embed %d, drop path %v, %d px /%d, %d frames, %d layers", name,
				c.BatchSize, c.ImageBatchSize, v.Dim, c.EmbedDim, v.DropPath, v.ImgSize, v.Patch, v.Frames, v.ReturnLayers)
		}
	}
}

// TestConfigErrorsNameTheirFix: a file starts from its preset; --set overrides one field; an
// unknown field lists the fields; an invalid value names the --set that fixes it.
func TestConfigErrorsNameTheirFix(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"preset": "b16_25m", "batch_size": 64}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(file, []string{"vision.drop_path=0", "max_steps=5"})
	if err != nil || c.BatchSize != 64 || c.ImageBatchSize != 2048 || c.Vision.DropPath != 0 || c.MaxSteps != 5 || c.Vision.Dim != 768 {
		t.Fatalf("file over b16_25m with --set: %+v, %v", c, err)
	}
	for _, tc := range []struct{ set, want string }{
		{"nokey=1", "image_batch_size"},
		{"batch_size=0", "--set batch_size="},
		{"max_txt_l=1", "--set max_txt_l=32"},
		{"warmup_epochs=20", "--set warmup_epochs=1"},
		{"vision.stage2=false", "--set vision.stage2=true"},
	} {
		if _, err := LoadConfig("tiny", []string{tc.set}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: %v; want an error naming %q", tc.set, err, tc.want)
		}
	}
	if _, err := LoadConfig("b99", nil); err == nil || !strings.Contains(err.Error(), "tiny") {
		t.Errorf("unknown preset: %v; want the list of presets", err)
	}
}
