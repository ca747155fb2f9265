// Package stage2 is UMT's stage-2 training (UMT.md §2.6–2.7) over the multimodal model:
// AdamW with the official parameter grouping on each part's flat buffers and the per-iteration
// warmup-cosine multiplier of multi_modality's scheduler.
package stage2
