// Package pipelines holds the Beam composites: prep (manifest → decoded frames → teacher
// features → committed shards) and export (embeddings). DoFns are thin wrappers over transforms
// and models; composites are plain functions that open with s = s.Scope("Name").
//
// It may import transforms, models, schemas and runners. Beam appears only here, in runners
// and in cmd.
package pipelines
