// Package transforms holds the Beam-free building blocks the pipelines and the trainer share:
// video (decode, sample, resize; the only FFmpeg user), masks (UMT's semantic masks and the
// tokens each dataset layout stores), text (caption cleaning and the BERT WordPiece tokenizer),
// shard (write, commit, read, index), manifest and storage (local disk and gs://).
//
// Packages under transforms may import schemas and each other, never Beam, models or kernels.
package transforms
