// Package vit is UMT's stage-1 student (UMT.md §1.2): a plain video ViT that encodes only the
// visible tokens of a semantic mask, with a Conv3d tubelet patch embedding (run as one GEMM over
// the visible patches), a fixed 1-D sinusoid position table, pre-norm blocks (LayerNorm eps 1e-6,
// exact GELU, qkv without bias plus learnable q/v biases), seeded per-sample drop path, and the
// alignment heads: the last K block outputs go through the shared final norm, get the sinusoid
// table's rows at the visible positions added, and each passes its own Linear → LayerNorm → L2.
//
// Forward and backward run through kernels.Trainer on backend-owned buffers, so the same code
// trains on the CPU reference and on a GPU backend. Parameters live in one flat allocation in
// two contiguous groups (weight-decayed matrices first, then biases/norms/1-D parameters) so the
// optimiser updates each group with one call; their names and shapes are the official PyTorch
// state-dict's (encoder.*, clip_decoder.*), which is also the export format.
//
// It imports kernels and nothing else of ours.
package vit
