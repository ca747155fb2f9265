// Package vit is UMT's stage-1 student (UMT.md §1.2): a plain video ViT that encodes only the
// visible tokens of a semantic mask, with a Conv3d tubelet patch embedding (run as one GEMM over
// the visible patches), a fixed 1-D sinusoid position table, pre-norm blocks (LayerNorm eps 1e-6,
// exact GELU, qkv without bias plus learnable q/v biases), seeded per-sample drop path, and the
// alignment heads: the outputs of K blocks, every ReturnInterval-th counted from the last (the last
// K at interval 1; models.ReturnedBlocks), go through the shared final norm in ascending block
// order, get the sinusoid table's rows at the visible positions added, and each passes its own
// Linear → LayerNorm → L2. Head k is aligned with the k-th stored teacher layer.
//
// With Config.Stage2 the same model is stage 2's vision encoder (multi_modality vit.py, UMT.md
// §2.2): it adds pool_norm (LayerNorm eps 1e-6) over the mean of vision_embeds (the final norm
// of the last block) per clip in training, or per frame with Batch.KeepTemporal (the unmasked
// test path); its decoder LayerNorms use PyTorch's default eps 1e-5 and their output x_clip
// (XClip) is not normalised, because UTALoss normalises both it and the raw teacher features.
// Images are clips with Batch.Frames = 1 and read the first HW rows of the sinusoid tables (the
// official img_pos_embed and clip_img_pos_embed hold exactly those values). BackwardWith takes
// the gradients of vision_embeds and pooled from the text side (VTC, VTM, MLM).
//
// Forward and backward run through kernels.Trainer on backend-owned buffers, so the same code
// trains on the CPU reference and on a GPU backend. Parameters live in one flat allocation in
// two contiguous groups (weight-decayed matrices first, then biases/norms/1-D parameters) so the
// optimiser updates each group with one call; their names and shapes are the official PyTorch
// state-dict's (encoder.*, clip_decoder.*), which is also the export format.
//
// # Export mapping
//
// EncodeState encodes a safetensors state dict (models/weights) that PyTorch loads into the official
// PretrainVisionTransformer with strict=True (the sinusoid tables are not in its state dict):
//
//	ours (flat buffer view)          official name                       shape
//	patch GEMM weight [D, 3·P²]      encoder.patch_embed.proj.weight     [D, 3, 1, P, P] (same bytes)
//	patch bias                       encoder.patch_embed.proj.bias       [D]
//	block i norm1/norm2 γ, β         encoder.blocks.i.norm{1,2}.{weight,bias}   [D]
//	block i fused qkv [3D, D]        encoder.blocks.i.attn.qkv.weight    [3D, D] (rows q, k, v)
//	block i q / v bias               encoder.blocks.i.attn.{q,v}_bias    [D]
//	block i proj, fc1, fc2           encoder.blocks.i.{attn.proj,mlp.fc1,mlp.fc2}.{weight,bias}
//	shared final norm                encoder.norm.{weight,bias}          [D]
//	head k Linear, LayerNorm         clip_decoder.k.{head,norm}.{weight,bias}   [C, D], [C]
//	pool_norm γ, β (stage 2)         pool_norm.{weight,bias}             [D]
//
// Every tensor keeps the official layout, so export is a copy per name (no transposes). The file
// is a raw state dict (no {"model": ...} wrapper), which is what stage 2's build_vit expects
// (UMT.md §9 quirk 3). TestStateDictNamesAndShapes checks names and shapes against the
// reference set's student_tiny_weights.
//
// It imports kernels and models/weights (the one safetensors codec) and nothing else of ours.
package vit
