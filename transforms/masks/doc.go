// Package masks draws UMT's semantic ("attention") masks: per frame, the visible tokens are a
// weighted sample without replacement of N_vis = HW − int(HW·ratio) patches, with weights equal
// to the teacher's CLS→patch attention (UMT.md §1.4).
//
// torch.multinomial(attn, N) without replacement is top-N of attn/q with q ~ Exp(1) (the
// reference set stores q), so the sampler is written as exactly that: given the same noise it
// reproduces the official mask bit for bit, and given a seed it draws its own Exp(1) noise from
// a counter-based stream keyed by (seed, clip, epoch, draw), so a mask never depends on the order
// in which clips are visited. A restricted variant draws only among the tokens a `visible:M`
// shard stored.
//
// Selector picks the tokens a dataset layout stores for a clip (all of them, or the union of M
// pre-drawn masks). The package is Beam-free and depends on the standard library only, so the
// prep pipeline and the training loop draw masks with the same code.
package masks
