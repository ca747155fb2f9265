package export

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
)

// prepareModel reads the chosen model's configuration, checks that the input's clips fit it
// and names what its embeddings are (plan.Info).
func prepareModel(ctx context.Context, plan *Plan, prov schemas.Provenance) error {
	switch plan.Model {
	case ModelStudent:
		return prepareStudent(plan, prov)
	case ModelStage2:
		return prepareStage2(plan, prov)
	}
	return prepareTeacher(ctx, plan, prov)
}

// fixCommand is whose --frames and --size change the input's clips: the export's own for a
// manifest, prep's for a dataset.
func fixCommand(plan *Plan) string {
	if plan.Source == SourceManifest {
		return "umt export"
	}
	return "umt prep"
}

// studentPreprocessing says how the student's input is made from the stored frames.
func studentPreprocessing(prov schemas.Provenance, c vit.Config) string {
	return fmt.Sprintf("frames=%d size=%d sampler=%s; x/255 normalised with ImageNet mean=%v std=%v; %d×%d patches of %d px, every token (no mask)",
		prov.Frames, prov.Size, prov.Sampler, vit.ImageNetMean, vit.ImageNetStd, prov.Frames/c.Tubelet, c.HW(), c.Patch)
}

// prepareStudent reads a stage-1 checkpoint: its pooled features are the L2-normalised mean of
// the final-norm tokens norm(x_L) over the clip, and over each time slice for the frames.
func prepareStudent(plan *Plan, prov schemas.Provenance) error {
	ck, err := vit.LoadCheckpoint(plan.Weights)
	if err != nil {
		return fmt.Errorf("--weights=%s: %w", plan.Weights, err)
	}
	c := ck.Cfg
	if c.Stage2 {
		return fmt.Errorf("--weights=%s holds a stage-2 vision encoder; use --model=%s", plan.Weights, ModelStage2)
	}
	if prov.Frames != c.Frames || prov.Size != c.ImgSize {
		return fmt.Errorf("--input=%s gives %d frames of %d px per clip, the student takes %d of %d: %s --frames %d --size %d", plan.Input, prov.Frames, prov.Size, c.Frames, c.ImgSize, fixCommand(plan), c.Frames, c.ImgSize)
	}
	plan.Info = schemas.EmbeddingInfo{
		Model: "umt-stage1:" + filepath.Base(ck.Dir), ModelSHA256: ck.ModelSHA256, Space: "video",
		Preprocessing:      studentPreprocessing(prov, c),
		Normalisation:      "l2(mean over the clip's tokens of norm(x_L)), norm the encoder's final LayerNorm",
		Dim:                c.Dim,
		Frames:             c.Slices(),
		FrameNormalisation: "l2(mean over the time slice's tokens of norm(x_L))",
	}
	return nil
}

// prepareStage2 reads a stage-2 checkpoint: the retrieval evaluation's video embeddings and,
// when the input stores caption tokens, its text embeddings.
func prepareStage2(plan *Plan, prov schemas.Provenance) error {
	ck, err := multimodal.LoadCheckpoint(plan.Weights)
	if err != nil {
		return fmt.Errorf("--weights=%s: %w", plan.Weights, err)
	}
	d := multimodal.DataShape{Frames: prov.Frames, Size: prov.Size, Command: fixCommand(plan)}
	if prov.Text != nil {
		d.Tokenizer, d.Vocab, d.MaxLen = prov.Text.Tokenizer, prov.Text.VocabSize, prov.Text.MaxLen
	}
	if err := ck.Cfg.CheckData(d, "--input="+plan.Input); err != nil {
		return err
	}
	plan.Info = schemas.EmbeddingInfo{
		Model: "umt-stage2:" + filepath.Base(ck.Dir), ModelSHA256: ck.ModelSHA256, Space: "video",
		Preprocessing:      studentPreprocessing(prov, ck.Cfg.Vision) + "; keep_temporal",
		Normalisation:      "mean over frames of the frame_embeddings (not renormalised): embedding · text_embedding is the zero-shot ITC score",
		Dim:                ck.Cfg.EmbedDim,
		Frames:             prov.Frames,
		FrameNormalisation: "l2(vision_proj(pool_norm(mean over the frame's tokens of norm(x_L))))",
		Text:               prov.Text != nil,
	}
	if plan.Info.Text {
		plan.Info.TextNormalisation = fmt.Sprintf("l2(text_proj(text encoder's [CLS])) of each caption's %d tokens (%s)", prov.Text.MaxLen, prov.Text.Tokenizer)
	}
	return nil
}
