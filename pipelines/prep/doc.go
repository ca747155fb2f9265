// Package prep is the prep pipeline: a manifest of videos becomes a committed dataset of Arrow
// shards holding each clip's sampled frames and its CLIP-teacher features, plus a failures
// table with one classified row per input that could not become a clip.
//
//	read manifest → identify (clip id, resume) → dedupe by clip id (a shuffle) →
//	decode + sample (transforms/video; "image" entries as 1-frame clips) → teacher
//	(models/clip) → select stored tokens per layout (transforms/masks) → stage one row per clip →
//	group rows by manifest position → write shards + failures exactly once (transforms/shard)
//	→ commit the index once every group is committed, checking ok + failed == manifest rows.
//
// Why this shape: shard contents must not depend on how a runner happens to bundle or split
// work, so that a rerun — after a crash, a SIGKILL or on another runner — yields the same
// bytes. Each clip's finished row is therefore staged under a name derived from its clip id
// (_staging/<id>.arrow, atomic publish), and only small references travel through the shuffle
// to the group writers, which sort them by manifest position and write deterministic shards.
// Staged rows also make resume cheap: a rerun reuses every clip that finished, and clips already
// committed in an earlier index are read back from its shards instead of being recomputed.
//
// Phases (Config.Phase): the default runs everything above in one job. PhaseFrames stops after
// decoding and stages frames-only rows (layout "frames", no teacher columns): the cheap
// CPU-bound half, for many CPU workers. PhaseTeacher reads such a dataset instead of a
// manifest — references to its clips go through the shuffle, each worker loads its clips'
// frames from the shards — runs the teacher and writes the full dataset; the frames phase's
// failures are carried over. Both halves use the same row builders, so a two-phase dataset holds
// exactly a one-pass run's rows and failures.
//
// The teacher runs in calls of one shape (one clip on the CPU, BatchClips clips zero-padded on a
// GPU): GEMM rounding can depend on the row count, and a clip's features must not depend on the
// clips a runner bundled with it.
//
// A job is a Config (what the user asked) that Prepare resolves into a Plan (absolute paths, the
// teacher's complete config, the dataset provenance, a run id); Build, Run and every DoFn take
// the Plan, which travels to workers inside the DoFns (exported fields, JSON encoded): workers
// never see the launcher's flags. Runner choice lives in package runners.
package prep
