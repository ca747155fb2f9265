// Package training runs UMT's recipes over shards. The work lives in subpackages:
//
//   - loader: seeded global shuffle per epoch, equal rank partitions, prefetch, resumable
//     position;
//   - optim: AdamW with UMT's no-decay rules on the backend, warmup + cosine schedule, batch lr
//     scaling, clipping;
//   - ckpt: atomic checkpoints (official-name weights, optimiser state, JSON state);
//   - stage1: the stage-1 loop (masks from transforms/masks → visible patches and targets →
//     student → loss → AdamW), metrics, loss curve, resume.
//
// It may import models, kernels, transforms and schemas; never Beam.
package training
