// Package shard writes, commits, indexes and reads umt datasets: Arrow IPC shards of clip rows
// (schemas.ClipSchema), failures files, and the dataset index at the root. See docs/DATASET.md
// for the format.
//
// Layout of a dataset (a local directory or a gs:// prefix):
//
//	index.json                      the index, written last: what readers may read
//	index-clips-<sha>.arrow         clip ids in row order (content-addressed)
//	shard-<key>-<n>.arrow           clip rows, Arrow IPC file, record batches of a few clips
//	shard-<key>-<n>.arrow.json      sidecar: rows, batches, sha256, clip ids, provenance
//	failures-<key>.arrow            one row per bad input (schemas.FailureSchema)
//
// Exactly once: a Writer stages each shard (storage.Writer), reads it back in full to verify
// it, then publishes it under its deterministic name with a does-not-exist condition. A
// retried bundle with the same key writes the same bytes under the same names and its
// publishes are no-ops; a crash before publishing leaves only a hidden staging file. The index
// is written last and atomically, so readers see either the previous dataset or the new one.
//
// API for pipelines and trainers:
//
//	w, _ := shard.NewWriter(store, prov, shard.WriterOptions{Key: key})   // per bundle/worker
//	w.Write(ctx, row) ...; infos, _ := w.Close(ctx)                       // commits shards
//	shard.WriteFailures(ctx, store, key, failures)
//	idx, _ := shard.CommitIndex(ctx, uri, shard.IndexOptions{Shards: names}) // after all writers
//
//	ds, _ := shard.Open(ctx, uri)  // local: mmap, zero-copy; gs://: range reads + cache
//	ds.Len(); ds.Row(ctx, i); ds.Scan(ctx, fn); ds.Verify(ctx); ds.Has(id); ds.ClipIDs()
//
// Errors are classified: ErrCorrupt (bytes differ from what was committed), ErrNoIndex
// (dataset not committed), ErrDuplicateClip, schemas.ErrSchema and schemas.ErrRow, and the
// storage package's classes. Bad bytes never panic.
package shard
