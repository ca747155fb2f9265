package stage2

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/configs"
)

// TestPresetsMatchTheOfficialConfigs pins every field of the bundled stage-2 presets. The
// official values come from multi_modality/exp/pretraining/{b16_5m,b16_25m,l16_25m}.py of
// OpenGVLab/unmasked_teacher (UMT.md §2.1) and the GPU counts from the .sh beside them:
//   - batch: inputs.batch_size 128 per GPU for images and videos × NNODE·NUM_GPUS (2×8 for B,
//     4×8 for L), one global batch since VTC all-gathers its negatives;
//   - ranks: NNODE·NUM_GPUS of the .sh (16 for b16_5m and b16_25m, 32 for l16_25m), as
//     models/criterions.py's vtm_loss draws hard negatives from each GPU's own 128 (umt.py
//     passes it the local projections and idx, not the gathered ones);
//   - epochs, warmup, lr, min_lr_multi: scheduler (cosine, 10 epochs, 1 warmup, 0.01) and
//     optimizer.lr 1e-4, not batch-scaled; AdamW's betas, eps and wd are pinned below;
//   - frames, px, patch, tubelet, width, depth, heads, drop path, clip_output_dim,
//     clip_return_layer: model.vision_encoder (num_frames 4, img_size 224, patch_size 16,
//     tubelet_size 1, d_model/encoder_depth/encoder_num_heads 768/12/12 or 1024/24/16,
//     drop_path_rate 0.1 or 0.2, 512 or 768, 6); mlp ratio 4 from vit.py's Block;
//   - mask ratios: video_mask_ratio 0.8, image_mask_ratio 0.5 (both "attention");
//   - text encoder and fusion layer: text_enc "bert" or "bert_large" → configs/model.py's
//     bert-base-uncased with fusion_layer 9, bert-large-uncased with 19;
//   - embed_dim 512 or 768, temp 0.07, mlm_masking_prob 0.5, max_txt_l 32, seed 42, log_freq 100.
//
// Evaluation's k_test 128 is `umt eval retrieval --k-test`'s default (cmd/umt). tiny is the
// reference set's 48×3 student at 64 px with the recipe's optimisation and 2-clip batches.
func TestPresetsMatchTheOfficialConfigs(t *testing.T) {
	type row struct {
		batch, imageBatch, ranks, epochs int
		warmup                           int
		lr, minLR                        float64
		frames, px, patch, tubelet       int
		dim, depth, heads, mlp           int
		dropPath                         float64
		clipDim, returnLayers            int
		videoMask, imageMask             float64
		text                             string
		fusion, embed                    int
		temp, mlm                        float64
		maxTxtL                          int
		seed                             uint64
		logEvery                         int
	}
	want := map[string]row{
		"b16_5m":  {2048, 2048, 16, 10, 1, 1e-4, 0.01, 4, 224, 16, 1, 768, 12, 12, 4, 0.1, 512, 6, 0.8, 0.5, "hf:bert-base-uncased", 9, 512, 0.07, 0.5, 32, 42, 100},
		"b16_25m": {2048, 2048, 16, 10, 1, 1e-4, 0.01, 4, 224, 16, 1, 768, 12, 12, 4, 0.1, 512, 6, 0.8, 0.5, "hf:bert-base-uncased", 9, 512, 0.07, 0.5, 32, 42, 100},
		"l16_25m": {4096, 4096, 32, 10, 1, 1e-4, 0.01, 4, 224, 16, 1, 1024, 24, 16, 4, 0.2, 768, 6, 0.8, 0.5, "hf:bert-large-uncased", 19, 768, 0.07, 0.5, 32, 42, 100},
		"tiny":    {2, 2, 1, 10, 1, 1e-4, 0.01, 4, 64, 16, 1, 48, 3, 4, 4, 0.1, 32, 2, 0.8, 0.5, "hf:bert-base-uncased", 0, 16, 0.07, 0.5, 32, 42, 10},
	}
	names := configs.Stage2Names()
	if strings.Join(names, " ") != "b16_25m b16_5m l16_25m tiny" {
		t.Fatalf("presets %v", names)
	}
	for _, name := range names {
		c, err := LoadConfig(name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v := c.Vision
		got := row{c.BatchSize, c.ImageBatchSize, c.Ranks, c.Epochs, c.WarmupEpochs, c.LR, c.MinLRMulti, v.Frames, v.ImgSize, v.Patch, v.Tubelet,
			v.Dim, v.Depth, v.Heads, v.MLPRatio, v.DropPath, v.ClipDim, v.ReturnLayers, c.VideoMaskRatio, c.ImageMaskRatio,
			c.TextEncoder, c.FusionLayer, c.EmbedDim, c.TempInit, c.MLMProb, c.MaxTxtL, c.Seed, c.LogEvery}
		if got != want[name] {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want[name])
		}
		if !v.Stage2 || (v.ReturnInterval != 0 && v.ReturnInterval != 1) || c.MaxSteps != 0 {
			t.Errorf("%s: stage2 %v, return interval %v (clip_student_return_interval 1), max_steps %d", name, v.Stage2, v.ReturnInterval, c.MaxSteps)
		}
	}
	// optimizer: opt_betas [0.9, 0.999], weight_decay 0.02, max_grad_norm -1 (none), torch's eps.
	if AdamW.Beta1 != 0.9 || AdamW.Beta2 != 0.999 || AdamW.Eps != 1e-8 || AdamW.WeightDecay != 0.02 || AdamW.ClipGrad != 0 {
		t.Errorf("AdamW %+v, want betas (0.9, 0.999), eps 1e-8, wd 0.02, no clipping", AdamW)
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
		{"ranks=0", "--set ranks=1"},
		{"ranks=2", "--set ranks=1"},
		{"batch_size=1", "--set batch_size=2"},
	} {
		if _, err := LoadConfig("tiny", []string{tc.set}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: %v; want an error naming %q", tc.set, err, tc.want)
		}
	}
	// b16_25m has 16 ranks: 24 clips and 2048 images split together over 8 at most.
	for _, tc := range []struct {
		sets []string
		want string
	}{
		{[]string{"batch_size=24"}, "--set ranks=8"},
		{[]string{"batch_size=6", "image_batch_size=6"}, "--set ranks=3"},
		{[]string{"batch_size=2", "image_batch_size=2", "ranks=1"}, ""},
	} {
		_, err := LoadConfig("b16_25m", tc.sets)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("b16_25m --set %v: %v; want an error naming %q", tc.sets, err, tc.want)
		}
	}
	if _, err := LoadConfig("b99", nil); err == nil || !strings.Contains(err.Error(), "tiny") {
		t.Errorf("unknown preset: %v; want the list of presets", err)
	}
}
