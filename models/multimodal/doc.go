// Package multimodal is UMT's stage-2 model (multi_modality/models/umt.py, UMT.md §2) without
// its CLIP teacher, whose per-token features come from the shards as in stage 1: the stage-2
// vision encoder (models/vit with Stage2), the BERT text/fusion encoder with its MLM head
// (models/bert), vision_proj, text_proj, itm_head and the learnable temperature.
//
// Model.Step is one training forward and backward, in the official order: temp clamped in
// place to [0.001, 0.5]; the encoder on the masked clip and UTA against the teacher features
// (both sides L2-normalised inside the loss); text mode on the captions; VTC on the projected
// pooled vision and text CLS vectors (idx positives, row-normalised); VTM on the fusion of
// [t; t; t_neg] × [v; v_neg; v] with one hard negative per row drawn from the similarity
// within each rank's group of the batch (models/umt.Draws.HardNegatives); MLM on masked
// captions (models/umt.MaskMLM) through text mode, fusion with the visible vision tokens and
// the tied head. The total is
// ((uta + vtc) + vtm) + mlm; backward fills every parameter's gradient in the three parts'
// flat buffers (vision, text, heads). Randomness comes from umt.NewDraws in production and
// from replayed reference draws in tests.
//
// State and FromState map the model to the official state dict (vision_encoder.*,
// text_encoder.*, vision_proj, text_proj, itm_head, temp; the teacher's clip_teacher.* are
// not part of it); VisionFromStage1 initialises the vision encoder from a stage-1 student with
// load_state_dict(strict=False) semantics.
package multimodal
