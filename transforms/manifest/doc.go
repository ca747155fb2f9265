// Package manifest reads the lists of videos a prep job starts from, in the formats UMT users
// already have, into one Row type:
//
//   - UMT JSON annotation lists: [{"video": path, "caption": str}, …]; "image" entries become
//     1-frame clips (Row.Image).
//   - CSV: path,label with no header (Kinetics / UMT stage-1 style), or with a header naming
//     the columns uri (or path, video), caption, label, start, end.
//   - JSONL: one object per line with uri, caption, label, start, end.
//   - Parquet: the same columns as JSONL.
//
// Relative paths are joined with a root (by default the manifest's own directory), so a job
// behaves the same whatever directory it is launched from. Manifests are read from local files,
// gs:// objects and https:// URLs.
//
// A malformed row (a bad span, a missing path) does not abort the job: it comes back as a Row
// with Err set, so the pipeline can record it in the failures table and ok + failed still equals
// the number of rows. Only a manifest that cannot be read at all is an error.
//
// The package is Beam-free; pipelines/prep wraps it in a DoFn.
package manifest
