// Package export is the Beam pipeline behind `umt export`: a committed umt dataset → Parquet
// shards of embeddings (schemas.EmbeddingInfo), one row per clip keyed by its clip id, and an
// index.json written last. Rows are cut into fixed groups of the input's rows; each group is one
// shard whose name is derived from the export's settings, published only if absent, so a
// killed run resumes where it stopped and a rerun writes the same bytes.
//
//	plan groups ─▶ Reshuffle ─▶ Embed (per group: read rows, model, write one shard) ─▶ Commit (index.json)
package export
