package shard

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/umt-dev/umt/schemas"
)

// Summary describes a dataset for people and tools (umt inspect shards).
type Summary struct {
	URI            string                       `json:"uri"`
	Rows           int64                        `json:"rows"`
	Failures       int64                        `json:"failures"`
	Shards         int                          `json:"shards"`
	Bytes          int64                        `json:"bytes"`          // every indexed object
	ShardBytes     int64                        `json:"shard_bytes"`    // shards only, on disk (compressed)
	BytesPerClip   float64                      `json:"bytes_per_clip"` // ShardBytes / Rows
	SchemaVersion  int                          `json:"schema_version"`
	Provenance     *schemas.Provenance          `json:"provenance"`
	Columns        []ColumnSummary              `json:"columns"`
	FailureClasses map[schemas.FailureClass]int `json:"failure_classes"`
	SampledRows    int                          `json:"sampled_rows"` // rows the per-column sizes were measured on
}

// ColumnSummary is one column of the clip schema with its decoded size per clip.
type ColumnSummary struct {
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	Nullable     bool    `json:"nullable"`
	Shape        string  `json:"shape,omitempty"`
	DType        string  `json:"dtype,omitempty"`
	BytesPerClip float64 `json:"bytes_per_clip"` // decoded (uncompressed) Arrow buffer bytes
}

// Describe summarises ds. Per-column sizes are measured on the record batches of up to
// sampleBatches batches from the start of the dataset (all when ≤ 0).
func Describe(ctx context.Context, ds *Dataset, sampleBatches int) (Summary, error) {
	idx := ds.Index()
	s := Summary{URI: ds.Store().URI(), Rows: idx.Rows, Failures: idx.FailureRows, Shards: len(idx.Shards),
		Bytes: idx.Bytes, SchemaVersion: idx.SchemaVersion, Provenance: idx.Provenance, FailureClasses: map[schemas.FailureClass]int{}}
	for _, e := range idx.Shards {
		s.ShardBytes += e.Bytes
	}
	if s.Rows > 0 {
		s.BytesPerClip = float64(s.ShardBytes) / float64(s.Rows)
	}
	if idx.Provenance != nil {
		sc := schemas.ClipSchema(*idx.Provenance)
		sizes := make([]int64, len(sc.Fields()))
		batches := 0
	outer:
		for si, e := range idx.Shards {
			for b := range e.Batches {
				if sampleBatches > 0 && batches >= sampleBatches {
					break outer
				}
				rec, _, err := ds.loadBatch(ctx, si, b)
				if err != nil {
					return s, err
				}
				for c := range sizes {
					sizes[c] += dataBytes(rec.Column(c).Data())
				}
				s.SampledRows += int(rec.NumRows())
				rec.Release()
				batches++
			}
		}
		for i, f := range sc.Fields() {
			cs := ColumnSummary{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable}
			if v, ok := f.Metadata.GetValue(schemas.MetaShape); ok {
				cs.Shape = v
			}
			if v, ok := f.Metadata.GetValue(schemas.MetaDType); ok {
				cs.DType = v
			}
			if s.SampledRows > 0 {
				cs.BytesPerClip = float64(sizes[i]) / float64(s.SampledRows)
			}
			s.Columns = append(s.Columns, cs)
		}
	}
	if idx.FailureRows > 0 {
		rows, err := ds.Failures(ctx)
		if err != nil {
			return s, fmt.Errorf("failures: %w", err)
		}
		for _, r := range rows {
			s.FailureClasses[r.ErrorClass]++
		}
	}
	return s, nil
}

// dataBytes sums the bytes of an array's buffers and children, counting only the slice the
// array covers for fixed-width values (the buffers of a batch are shared by its rows).
func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
