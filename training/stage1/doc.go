// Package stage1 is UMT's stage-1 training loop over clip shards: per step it takes a batch
// from the loader, draws each clip's semantic mask from the stored teacher attention (or uses a
// stored mask), gathers the visible patches and the teacher targets at the visible tokens, runs
// the student forward and backward, and applies AdamW at the scheduled learning rate. It logs
// loss, lr, grad norm, clips/s and estimated MFU, writes metrics as JSONL and a loss-curve PNG,
// and checkpoints so that a resumed run reproduces the uninterrupted one bit for bit.
//
// Differences from the official loop, by design: the teacher ran once at prep time, so its
// targets are the stored float16 values and the frames are the stored crops (no per-epoch
// multi-scale crop or flip — those would invalidate the stored teacher features); everything
// runs in float32 (no AMP).
package stage1
