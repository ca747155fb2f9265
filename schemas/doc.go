// Package schemas defines the Arrow schemas of umt's datasets — clip shards, the failures table
// and embedding exports — with their versions, provenance metadata and validation. It is the
// contract between prep, train and export, so every change here bumps a schema version.
//
// # Clip shards (schema version 1)
//
// One row per training clip: the sampled frames as raw RGB bytes and what the CLIP teacher said
// about them, so training never runs the teacher. The column table with types, shapes, units and
// nullability lives in docs/DATASET.md; [ClipSchema] builds the schema from a [Provenance], which
// fixes every shape (T frames of S×S pixels, K teacher layers of D dims over HW tokens per frame)
// and is stored as JSON in the schema metadata under [MetaProvenance].
//
// The Go side of a row is [ClipRow]. Teacher values are float16 stored as their raw IEEE bits in
// uint16 columns (Arrow's own float16 conversion truncates; [F16Bits] and [Float32s] use
// x448/float16, which rounds to nearest-even and decodes subnormals correctly).
//
// Layouts ([Layout]) say which teacher tokens a row stores: "full" keeps all T·HW tokens;
// "visible:M" keeps the union of the visible tokens of M semantic masks drawn at prep time,
// and the masks themselves, so the trainer can pick one of them per step. "frames" keeps no
// teacher columns at all (umt.schema "frames", the first nine columns): the output of a
// two-phase prep's first phase, which its second phase turns into a full or visible dataset.
// [Provenance.HasTeacher] and [Provenance.Kind] tell the two apart.
//
// # API
//
//   - [Provenance], [Provenance.Validate], [ParseLayout], [ProvenanceFromSchema]
//   - [ClipSchema], [CheckClipSchema], [ClipRow], [ClipRow.Validate], [ClipID]
//   - [NewClipRecord] (rows → record batch), [NewClipBatch] and [ClipBatch.Row] (record
//     batch → validated rows whose tensors alias the batch's buffers), [ClipRow.Clone]
//   - [FailureSchema], [FailureRow], [NewFailureRecord], [FailureRowsFrom]
//   - [EmbeddingInfo.Schema], [EmbeddingRow], [NewEmbeddingRecord], [EmbeddingRowsFrom]
//   - [F16Bits], [Float32s] (float16 bits ↔ float32)
//   - package schematest: valid random rows and provenances for tests of code built on this
//
// Precision: float16 targets change UMT's alignment loss on the reference data by 2e-6
// relative; FP8 E4M3 with a per-token scale by 1.5e-3, above the 1e-3 allowed, so version 1
// offers f16 only (TestStoredPrecisionAlignmentLoss).
//
// It may import Arrow and nothing of ours.
package schemas
