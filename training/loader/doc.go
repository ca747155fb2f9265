// Package loader feeds training: a global shuffle of a dataset's rows per epoch from a seed,
// partitioned across rank/world with the same number of samples on every rank (as
// torch's DistributedSampler: the permutation is padded by wrapping around), fixed-size batches
// (the incomplete last batch is dropped, drop_last=True as in UMT), background prefetch of the
// next batches, and a resumable Position: the permutation is a pure function of (seed, epoch), so
// (epoch, batch offset) is the whole state and a resumed run sees exactly the rows the
// uninterrupted run would have seen.
//
// It reads through a two-method Source so it works with *shard.Dataset and with in-memory
// sources in tests.
package loader
