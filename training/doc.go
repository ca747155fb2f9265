// Package training runs UMT's stage-1 and stage-2 recipes over shards: the loader (global
// shuffle, rank partitioning, resumable position), semantic masks, losses, AdamW with UMT's
// no-decay rules, schedules, checkpoints and the training loops.
//
// It may import models, kernels, transforms and schemas; never Beam.
package training
