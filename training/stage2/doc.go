// Package stage2 is UMT's stage-2 training (UMT.md §2.6–2.7) over the multimodal model:
//
//   - BuildBatch turns one loader batch of shard rows of one media type into a training batch:
//     a semantic mask per clip drawn from its stored teacher attention at the media's ratio
//     (videos 0.8, images 0.5, chosen by T == 1), the visible patches and teacher features,
//     one caption's stored token ids, and idx = the row's dataset index. The shards hold
//     L2-normalised teacher features where the official stage-2 teacher does not normalise;
//     the UTA loss normalises both sides, so the loss is the same.
//   - MetaOrder is the official MetaLoader's step order: each loader repeated by its number of
//     batches, shuffled from the seed and epoch, so every step is a whole image or video batch.
//   - Optimizer is AdamW (0.9, 0.999, eps 1e-8, wd 0.02, not batch-scaled lr) over the
//     model's three flat buffers with the official grouping (1-D tensors and ".bias" exempt;
//     the 0-d temp decayed); optim.WarmupCosine is the per-iteration LambdaLR multiplier.
//   - Trainer.TrainStep runs one step with draws that are a pure function of (seed, step).
//   - Trainer.Save writes model.safetensors (the official multi_modality state dict),
//     optim.safetensors (exp_avg.<name>, exp_avg_sq.<name>) and, last, state.json (step, seed,
//     schedule, config, checksums); Resume continues bit for bit.
//   - Config is a recipe (configs/stage2: tiny and the official b16_5m, b16_25m, l16_25m) with
//     --set overrides; Start checks the corpora against the model (caption vocabulary and
//     length, teacher shapes, naming the fix), builds or resumes the trainer and seeks one loader
//     per corpus; Run.Run trains in MetaOrder, writing metrics.jsonl, checkpoints and loss.png.
package stage2
