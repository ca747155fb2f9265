package multimodal

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// TestStateNamesAndShapesMatchReference: the exported state dict has exactly the official
// multi_modality names and shapes of the reference weights file, apart from the CLIP teacher
// (clip_teacher.*, not part of this model: its features are inputs) and the fixed sinusoid
// tables (const.*, not in the official state dict); temp is 0-d as the nn.Parameter is (the
// file stores it as [1]). Encoding the export and reading it back gives the same parameters bit for bit.
func TestStateNamesAndShapesMatchReference(t *testing.T) {
	r := loadRefModel(t)
	sd, err := State(r.cfg, r.flat)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]weights.Tensor{}
	for _, x := range sd {
		if _, dup := ours[x.Name]; dup {
			t.Errorf("%s exported twice", x.Name)
		}
		ours[x.Name] = x
	}
	for name, x := range r.sd {
		if strings.HasPrefix(name, "clip_teacher.") || strings.HasPrefix(name, "const.") {
			continue
		}
		o, ok := ours[name]
		switch {
		case !ok:
			t.Errorf("missing: the reference has %s %v", name, x.Shape)
		case name == "temp" && len(o.Shape) == 0 && slices.Equal(x.Shape, []int{1}):
		case !slices.Equal(o.Shape, x.Shape) || o.DType != x.DType:
			t.Errorf("%s: ours %s %v, reference %s %v", name, o.DType, o.Shape, x.DType, x.Shape)
		}
	}
	for name := range ours {
		if _, ok := r.sd[name]; !ok {
			t.Errorf("unexpected: %s is not in the reference state dict", name)
		}
	}
	if pid, ok := r.sd[PositionIDs]; ok {
		want, _ := pid.Int64()
		o := ours[PositionIDs]
		got, _ := (&o).Int64()
		if !slices.Equal(got, want) {
			t.Errorf("%s differs from the reference buffer", PositionIDs)
		}
	}
	raw, err := EncodeState(r.cfg, r.flat, nil)
	if err != nil {
		t.Fatal(err)
	}
	file, err := weights.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	f, err := FromState(r.cfg, file.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Vision, r.flat.Vision) || !slices.Equal(f.Text, r.flat.Text) || !slices.Equal(f.Heads, r.flat.Heads) {
		t.Error("State then FromState changed parameter values")
	}
	t.Logf("%d tensors exported, matching the reference state dict without its %d clip_teacher.* and const.* entries", len(sd), len(r.sd)-len(sd))
}

// TestSinusoidTablesMatchReference: the four fixed tables of the reference weights file are
// vit.Sinusoid's rows: the video tables T·HW rows, the image tables (img_pos_embed,
// clip_img_pos_embed) its first HW rows, which is why the encoder keeps one table.
func TestSinusoidTablesMatchReference(t *testing.T) {
	r := loadRefModel(t)
	c := r.cfg.Vision
	full := vit.Sinusoid(c.Tokens(), c.Dim)
	for name, rows := range map[string]int{
		"const.vision_encoder.encoder.pos_embed":     c.Tokens(),
		"const.vision_encoder.clip_pos_embed":        c.Tokens(),
		"const.vision_encoder.encoder.img_pos_embed": c.HW(),
		"const.vision_encoder.clip_img_pos_embed":    c.HW(),
	} {
		x, ok := r.sd[name]
		if !ok {
			t.Errorf("the reference has no %s", name)
			continue
		}
		if !slices.Equal(x.Shape, []int{1, rows, c.Dim}) {
			t.Errorf("%s has shape %v, want [1, %d, %d]", name, x.Shape, rows, c.Dim)
			continue
		}
		v, _ := x.Float32()
		if e := relErr(widen(full[:rows*c.Dim]), v); e > 1e-6 {
			t.Errorf("%s: max|d|/max|ref| = %.3g against vit.Sinusoid", name, e)
		}
	}
}

// TestVisionFromStage1LoadsLikeStrictFalse: a stage-1 student checkpoint (the reference set's
// student_tiny_weights, the same dimensions as the stage-2 student) initialises the stage-2
// encoder as load_state_dict(strict=False) would: every student tensor is copied, pool_norm is
// missing and keeps its init (weight 1, bias 0), the fixed tables are unexpected and ignored;
// a shape mismatch is an error.
func TestVisionFromStage1LoadsLikeStrictFalse(t *testing.T) {
	c := vit.Tiny
	c.Stage2 = true
	w, err := weightstest.Read(filepath.Join(testenv.RefData(t), "student_tiny_weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sd := weightstest.Map(w)
	init := vit.InitParams(c, 1)
	flat, rep, err := VisionFromStage1(c, init, sd)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Missing, []string{"pool_norm.weight", "pool_norm.bias"}) {
		t.Errorf("missing %v, want pool_norm.weight and pool_norm.bias", rep.Missing)
	}
	for _, u := range rep.Unexpected {
		if !strings.HasPrefix(u, "const.") {
			t.Errorf("unexpected %s", u)
		}
	}
	for _, p := range vit.Layout(c) {
		got := flat[p.Off : p.Off+p.Len]
		if x, ok := sd[p.Name]; ok {
			want, _ := x.Float32()
			if !slices.Equal(got, want) {
				t.Errorf("%s was not copied", p.Name)
			}
			continue
		}
		want := float32(0)
		if strings.HasSuffix(p.Name, ".weight") {
			want = 1
		}
		for _, v := range got {
			if v != want {
				t.Errorf("%s starts at %v, want %v", p.Name, v, want)
				break
			}
		}
	}
	t.Logf("loaded %d tensors; new: %v; ignored: %v", len(rep.Loaded), rep.Missing, rep.Unexpected)
	wrong := vit.Tiny
	wrong.Stage2, wrong.ClipDim = true, 16
	if _, _, err := VisionFromStage1(wrong, vit.InitParams(wrong, 1), sd); err == nil {
		t.Error("a decoder of another width loaded without error")
	}
}

// TestInferConfigMatchesManifest: the architecture read from the reference weights' shapes,
// completed with what shapes do not record, is the configuration the manifest describes.
func TestInferConfigMatchesManifest(t *testing.T) {
	r := loadRefModel(t)
	c := r.cfg
	got, err := InferConfig(r.sd, Options{VisionHeads: c.Vision.Heads, TextHeads: c.Text.Heads, ImgSize: c.Vision.ImgSize,
		Frames: c.Vision.Frames, ReturnInterval: c.Vision.ReturnInterval, DropPath: c.Vision.DropPath, TempInit: c.TempInit, MLMProb: c.MLMProb})
	if err != nil {
		t.Fatal(err)
	}
	if got != c {
		t.Errorf("inferred %+v\nmanifest %+v", got, c)
	}
}
