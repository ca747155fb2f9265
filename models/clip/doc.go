// Package clip is the CLIP ViT image encoder as UMT uses it as teacher (UMT.md §1.3): frames go
// through a patch convolution, CLS + positional embedding, ln_pre and pre-LN QuickGELU blocks;
// for each of K blocks (every ReturnInterval-th counted from the last, stacked in ascending
// order; models.ReturnedBlocks) the patch tokens
// go through ln_post → proj → L2-normalise (the stage-2 variant skips the L2 step), and the last
// block's CLS→patch attention is averaged over heads. Input normalisation defaults to ImageNet
// mean/std, which is what UMT actually feeds its CLIP teacher.
//
// Weights load from safetensors in OpenAI naming (with or without "visual.") or Hugging Face
// CLIPModel / CLIPVisionModelWithProjection naming, F32/F16/BF16; see Load for the --teacher
// forms (local HF directory, OpenAI-named file plus flags, hf:NAME from the hub). When the
// teacher runs at a resolution whose patch grid differs from the weights' positional table
// (ViT-L/14 at 196: 16×16 → 14×14), the table is resized bicubically exactly as UMT does, and
// frames of another size are resized bicubically (align_corners=False, A=-0.75, no antialias)
// after normalisation, as UMT's engine does.
//
// All tensor work goes through a kernels.Backend; a Teacher owns its device buffers and must be
// used by one goroutine at a time.
package clip
