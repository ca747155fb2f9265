package stage2

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/training/ckpt"
	"github.com/umt-dev/umt/transforms/storage"
)

// TestVisionInitFromStage1Checkpoint: a stage-1 checkpoint of ours (and its exported
// model.safetensors) initialises the stage-2 encoder: every student tensor is copied, only
// pool_norm is new and starts at weight 1, bias 0.
func TestVisionInitFromStage1Checkpoint(t *testing.T) {
	s1 := vit.Tiny
	s1.Frames = 8 // stage 1 ran on more frames; no parameter depends on T
	params := vit.InitParams(s1, 77)
	for i := range params {
		params[i] += float32(i%13) * 1e-3
	}
	root := t.TempDir()
	zeros := make([]float32, len(params))
	dir, err := ckpt.Save(root, ckpt.State{Step: 10, Model: s1}, params, zeros, zeros)
	if err != nil {
		t.Fatal(err)
	}
	c := vit.Tiny
	c.Stage2 = true
	raw, err := vit.EncodeState(s1, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "student.safetensors")
	if err := storage.WriteFile(t.Context(), file, raw); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{root, dir, file} {
		flat, rep, err := VisionInit(path, c, 1)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !slices.Equal(rep.Missing, []string{"pool_norm.weight", "pool_norm.bias"}) || len(rep.Unexpected) != 0 {
			t.Errorf("%s: missing %v, unexpected %v", path, rep.Missing, rep.Unexpected)
		}
		src := map[string]vit.Param{}
		for _, p := range vit.Layout(s1) {
			src[p.Name] = p
		}
		for _, p := range vit.Layout(c) {
			got := flat[p.Off : p.Off+p.Len]
			if q, ok := src[p.Name]; ok {
				if !slices.Equal(got, params[q.Off:q.Off+q.Len]) {
					t.Errorf("%s: %s not copied", path, p.Name)
				}
				continue
			}
			want := float32(0)
			if p.Name == "pool_norm.weight" {
				want = 1
			}
			for _, v := range got {
				if v != want {
					t.Fatalf("%s: %s starts at %v, want %v", path, p.Name, v, want)
				}
			}
		}
	}
}

// TestLoadTextFollowsTheConfig: the text encoder loads from --text or, without one, from the
// config's text_encoder; fusion_layer 0 keeps the weights' own fusion layer, and weights that
// fuse from another layer than the config asks are refused with the --set that matches them.
func TestLoadTextFollowsTheConfig(t *testing.T) {
	spec := filepath.Join(testenv.RefData(t), "stage2_tiny_weights.safetensors") // fuses from layer 2 of 4
	c, err := LoadConfig("tiny", nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.LoadText(t.Context(), spec)
	if err != nil || l.Cfg.FusionLayer != 2 || l.Cfg.EncoderWidth != c.Vision.Dim {
		t.Fatalf("fusion_layer 0: %v; want the weights' fusion layer 2 and encoder width %d, got %+v", err, c.Vision.Dim, l)
	}
	c.TextEncoder = spec
	if l, err = c.LoadText(t.Context(), ""); err != nil || l.Cfg.FusionLayer != 2 {
		t.Fatalf("no --text: %v; want the config's text_encoder", err)
	}
	c.FusionLayer = 3
	if _, err := c.LoadText(t.Context(), spec); err == nil || !strings.Contains(err.Error(), "--set fusion_layer=2") {
		t.Errorf("fusion_layer 3 on weights fusing from 2: %v; want --set fusion_layer=2", err)
	}
	c.TextEncoder = ""
	if _, err := c.LoadText(t.Context(), ""); err == nil || !strings.Contains(err.Error(), "--text") {
		t.Errorf("no text encoder at all: %v; want the flag that gives one", err)
	}
}
