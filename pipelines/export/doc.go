// Package export is the Beam pipeline behind `umt export`: a committed umt dataset, or a
// manifest of videos and images decoded and sampled as prep does → Parquet shards of embeddings
// (schemas.EmbeddingInfo), one row per clip keyed by its clip id, failures tables with prep's
// classes, an optional embedding-reader view (--npy), and an index.json written last. Rows are
// cut into fixed groups of the input's rows; each group is one shard whose name is derived from
// the export's settings, published only if absent (after the group's failures and view), so a
// killed run resumes where it stopped and a rerun writes the same bytes.
//
//	dataset:  plan groups ─▶ Reshuffle ─▶ Embed (per group: read rows, model, write) ─▶ Commit
//	manifest: ReadManifest ─▶ Identify (ids, dedupe) ─▶ EmbedClips (decode, model) ─▶
//	          WriteGroups (per group: write) ─▶ Commit (index.json, ok + failed == rows)
package export
