package schemas

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// EmbeddingSchemaVersion is the version of the embeddings export schema.
const EmbeddingSchemaVersion = 1

// Schema metadata keys of an embeddings file.
const (
	MetaModel       = "umt.model"        // model that produced the embeddings, e.g. "umt-b16-stage2"
	MetaModelSHA256 = "umt.model_sha256" // sha256 of its weights
	MetaSpace       = "umt.space"        // "video" or "text": which tower's projection

	MetaPreprocessing = "umt.preprocessing" // how inputs were made model-ready, e.g. "frames=8 size=224 resolution=224 mean=... std=..."
	MetaNormalisation = "umt.normalisation" // what was done to the vectors, e.g. "l2(mean_t(l2(frame)))"
	MetaDim           = "umt.dim"           // E, decimal
)

// EmbeddingInfo is what an embeddings file records about the vectors it holds (file-level
// metadata; the dtype is float32, recorded under MetaDType).
type EmbeddingInfo struct {
	Model, ModelSHA256, Space    string
	Preprocessing, Normalisation string
	Dim                          int
}

// Schema returns the embeddings schema for i with every field of i in its metadata.
func (i EmbeddingInfo) Schema() *arrow.Schema {
	sc := EmbeddingSchema(i.Model, i.ModelSHA256, i.Space, i.Dim)
	md := sc.Metadata()
	keys := append(md.Keys(), MetaPreprocessing, MetaNormalisation, MetaDim, MetaDType)
	vals := append(md.Values(), i.Preprocessing, i.Normalisation, strconv.Itoa(i.Dim), "float32")
	all := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(sc.Fields(), &all)
}

// EmbeddingRow is one exported embedding: a clip (or a caption of it) and its vector.
type EmbeddingRow struct {
	ClipID     string
	SourceURI  string
	SpanStartS float64
	SpanEndS   float64
	Caption    string    // "" is stored as null
	Embedding  []float32 // [Dim], L2-normalised by the exporter
}

// EmbeddingSchema returns the schema of an embeddings export of dim-dimensional float32
// vectors produced by model (weights sha256 modelSHA) in space ("video" or "text").
func EmbeddingSchema(model, modelSHA, space string, dim int) *arrow.Schema {
	md := arrow.NewMetadata(
		[]string{MetaSchema, MetaSchemaVersion, MetaModel, MetaModelSHA256, MetaSpace},
		[]string{"embeddings", strconv.Itoa(EmbeddingSchemaVersion), model, modelSHA, space})
	return arrow.NewSchema([]arrow.Field{
		{Name: ColClipID, Type: arrow.BinaryTypes.String},
		{Name: ColSourceURI, Type: arrow.BinaryTypes.String},
		{Name: ColSpanStartS, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColSpanEndS, Type: arrow.PrimitiveTypes.Float64},
		{Name: ColCaption, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "embedding", Type: arrow.FixedSizeListOfNonNullable(int32(dim), arrow.PrimitiveTypes.Float32),
			Metadata: arrow.NewMetadata([]string{MetaShape, MetaDType}, []string{"[" + strconv.Itoa(dim) + "]", "float32"})},
	}, &md)
}

// NewEmbeddingRecord builds an embeddings record batch with schema sc (from EmbeddingSchema).
func NewEmbeddingRecord(mem memory.Allocator, sc *arrow.Schema, rows []EmbeddingRow) (arrow.RecordBatch, error) {
	et, ok := embeddingType(sc)
	if !ok {
		return nil, fmt.Errorf("%w: not an embeddings schema", ErrSchema)
	}
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	for _, r := range rows {
		if len(r.Embedding) != int(et.Len()) {
			return nil, fmt.Errorf("%w: clip %q: embedding has %d dims, want %d", ErrRow, r.ClipID, len(r.Embedding), et.Len())
		}
		b.Field(0).(*array.StringBuilder).Append(r.ClipID)
		b.Field(1).(*array.StringBuilder).Append(r.SourceURI)
		b.Field(2).(*array.Float64Builder).Append(r.SpanStartS)
		b.Field(3).(*array.Float64Builder).Append(r.SpanEndS)
		if r.Caption == "" {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.StringBuilder).Append(r.Caption)
		}
		fb := b.Field(5).(*array.FixedSizeListBuilder)
		fb.Append(true)
		fb.ValueBuilder().(*array.Float32Builder).AppendValues(r.Embedding, nil)
	}
	return b.NewRecordBatch(), nil
}

func embeddingType(sc *arrow.Schema) (*arrow.FixedSizeListType, bool) {
	if v, _ := metaValue(sc.Metadata(), MetaSchema); v != "embeddings" || len(sc.Fields()) != 6 {
		return nil, false
	}
	et, ok := sc.Field(5).Type.(*arrow.FixedSizeListType)
	return et, ok && arrow.TypeEqual(et.Elem(), arrow.PrimitiveTypes.Float32)
}

// EmbeddingRowsFrom decodes an embeddings record batch (embeddings are copied).
func EmbeddingRowsFrom(rec arrow.RecordBatch) (rows []EmbeddingRow, err error) {
	et, ok := embeddingType(rec.Schema())
	if !ok {
		return nil, fmt.Errorf("%w: not an embeddings table", ErrSchema)
	}
	want := EmbeddingSchema("", "", "", int(et.Len()))
	for i, f := range want.Fields() {
		if !arrow.TypeEqual(rec.Schema().Field(i).Type, f.Type) || rec.Schema().Field(i).Name != f.Name {
			return nil, fmt.Errorf("%w: embeddings column %d is %s %s, want %s %s", ErrSchema, i, rec.Schema().Field(i).Name, rec.Schema().Field(i).Type, f.Name, f.Type)
		}
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		return nil, fmt.Errorf("%w: embeddings batch is corrupt: %v", ErrSchema, err)
	}
	defer func() {
		if x := recover(); x != nil {
			rows, err = nil, fmt.Errorf("%w: embeddings batch is corrupt: %v", ErrSchema, x)
		}
	}()
	s := func(c, i int) string { return strings.Clone(rec.Column(c).(*array.String).Value(i)) }
	emb := rec.Column(5).(*array.FixedSizeList)
	vals := emb.ListValues().(*array.Float32).Float32Values()
	d := int(et.Len())
	for i := 0; i < int(rec.NumRows()); i++ {
		r := EmbeddingRow{ClipID: s(0, i), SourceURI: s(1, i),
			SpanStartS: rec.Column(2).(*array.Float64).Value(i), SpanEndS: rec.Column(3).(*array.Float64).Value(i)}
		if !rec.Column(4).IsNull(i) {
			r.Caption = s(4, i)
		}
		lo := (emb.Data().Offset() + i) * d
		r.Embedding = append([]float32(nil), vals[lo:lo+d]...)
		rows = append(rows, r)
	}
	return rows, nil
}
