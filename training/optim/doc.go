// Package optim is UMT's stage-1 optimisation (UMT.md §1.7): torch.optim.AdamW (β 0.9/0.95,
// eps 1e-8, weight decay 0.05 on ≥2-D non-bias tensors only) running on a kernels.Trainer, the
// per-iteration schedule (linear warmup from 0, then cosine to min_lr) with UMT's linear batch
// scaling of the learning rates, and optional global-norm gradient clipping. Stage 2's multiplier
// (WarmupCosine: torch LambdaLR over multi_modality's warmup-cosine, floored at min_lr_multi) lives
// here too; training/stage2 sets AdamW's stage-2 hyper-parameters and groups.
package optim
