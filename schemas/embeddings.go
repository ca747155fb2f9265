package schemas

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// EmbeddingSchemaVersion is the version of the embeddings export schema. Version 2 added the
// optional frame_embeddings and text_embedding columns and float16 vectors; version-1 files
// (float32 embedding only) are still read.
const EmbeddingSchemaVersion = 2

// Schema metadata keys of an embeddings file.
const (
	MetaModel       = "umt.model"        // model that produced the embeddings, e.g. "umt-b16-stage2"
	MetaModelSHA256 = "umt.model_sha256" // sha256 of its weights
	MetaSpace       = "umt.space"        // "video" or "text": which tower's projection

	MetaPreprocessing = "umt.preprocessing" // how inputs were made model-ready, e.g. "frames=8 size=224 resolution=224 mean=... std=..."
	MetaNormalisation = "umt.normalisation" // what was done to the vectors, e.g. "l2(mean_t(l2(frame)))"; also per column
	MetaDim           = "umt.dim"           // E, decimal
	MetaFrames        = "umt.frames"        // P, the vectors per clip of frame_embeddings (absent: no such column)
)

// Embedding columns after the identity columns (ColClipID … ColCaption).
const (
	ColEmbedding       = "embedding"        // fixed_size_list<dtype>[E]: one vector per clip
	ColFrameEmbeddings = "frame_embeddings" // fixed_size_list<dtype>[P·E]: P vectors per clip, frame-major
	ColTextEmbedding   = "text_embedding"   // list<dtype> of C·E: one vector per caption, null without captions
)

// Element types of the embedding columns.
const (
	DTypeFloat32 = "float32"
	DTypeFloat16 = "float16" // IEEE half (Parquet FLOAT16), rounded to nearest even from float32
)

// EmbeddingInfo is what an embeddings file records about the vectors it holds: the schema's
// columns (frame_embeddings when Frames > 0, text_embedding when Text) and its metadata.
type EmbeddingInfo struct {
	Model, ModelSHA256, Space    string
	Preprocessing, Normalisation string
	Dim                          int
	DType                        string // DTypeFloat32 ("" means it) or DTypeFloat16
	// Frames is P, the per-frame vectors of frame_embeddings (frames / tubelet); 0: no column.
	Frames             int    `json:",omitempty"`
	FrameNormalisation string `json:",omitempty"`
	// Text adds text_embedding: the captions' vectors in ClipRow.Captions order.
	Text              bool   `json:",omitempty"`
	TextNormalisation string `json:",omitempty"`
}

// dtype is i's element type with its default.
func (i EmbeddingInfo) dtype() string {
	if i.DType == "" {
		return DTypeFloat32
	}
	return i.DType
}

// Validate reports the first field a writer cannot honour.
func (i EmbeddingInfo) Validate() error {
	switch {
	case i.Dim <= 0:
		return fmt.Errorf("%w: embedding dim %d", ErrSchema, i.Dim)
	case i.dtype() != DTypeFloat32 && i.dtype() != DTypeFloat16:
		return fmt.Errorf("%w: embedding dtype %q: want %s or %s", ErrSchema, i.DType, DTypeFloat32, DTypeFloat16)
	case i.Frames < 0:
		return fmt.Errorf("%w: %d frame embeddings per clip", ErrSchema, i.Frames)
	}
	return nil
}

// Schema returns the embeddings schema of i: the identity columns, embedding, and the optional
// columns i names, with every field of i in the schema metadata.
func (i EmbeddingInfo) Schema() *arrow.Schema {
	dt, elem := i.dtype(), arrow.DataType(arrow.PrimitiveTypes.Float32)
	if dt == DTypeFloat16 {
		elem = arrow.FixedWidthTypes.Float16
	}
	E := strconv.Itoa(i.Dim)
	keys := []string{MetaSchema, MetaSchemaVersion, MetaModel, MetaModelSHA256, MetaSpace, MetaPreprocessing, MetaNormalisation, MetaDim, MetaDType}
	vals := []string{"embeddings", strconv.Itoa(EmbeddingSchemaVersion), i.Model, i.ModelSHA256, i.Space, i.Preprocessing, i.Normalisation, E, dt}
	fields := []arrow.Field{
		field(ColClipID, arrow.BinaryTypes.String, false),
		field(ColSourceURI, arrow.BinaryTypes.String, false),
		field(ColSpanStartS, arrow.PrimitiveTypes.Float64, false),
		field(ColSpanEndS, arrow.PrimitiveTypes.Float64, false),
		field(ColCaption, arrow.BinaryTypes.String, true),
		field(ColEmbedding, arrow.FixedSizeListOfNonNullable(int32(i.Dim), elem), false,
			MetaShape, shape(i.Dim), MetaDType, dt, MetaNormalisation, i.Normalisation),
	}
	if i.Frames > 0 {
		keys, vals = append(keys, MetaFrames), append(vals, strconv.Itoa(i.Frames))
		fields = append(fields, field(ColFrameEmbeddings, arrow.FixedSizeListOfNonNullable(int32(i.Frames*i.Dim), elem), false,
			MetaShape, shape(i.Frames, i.Dim), MetaDType, dt, MetaNormalisation, i.FrameNormalisation))
	}
	if i.Text {
		fields = append(fields, field(ColTextEmbedding, arrow.ListOfNonNullable(elem), true,
			MetaShape, shape("C", i.Dim), MetaDType, dt, MetaNormalisation, i.TextNormalisation, MetaSpace, "text"))
	}
	md := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(fields, &md)
}

// EmbeddingRow is one exported clip: its identity columns and its vectors, in float32 (a
// float16 file rounds them on write and widens them exactly on read).
type EmbeddingRow struct {
	ClipID     string
	SourceURI  string
	SpanStartS float64
	SpanEndS   float64
	Caption    string    // "" is stored as null
	Embedding  []float32 // [Dim]
	// FrameEmbeddings are [P, Dim] per-frame vectors, frame-major (EmbeddingInfo.Frames > 0).
	FrameEmbeddings []float32
	// TextEmbedding are [C, Dim] caption vectors (EmbeddingInfo.Text); nil is stored as null.
	TextEmbedding []float32
}

// embeddingCols locates the columns of an embeddings schema by name.
type embeddingCols struct {
	emb, frames, text int // column indices; -1 when absent
	dim, perClip      int // E and P (0 without frame_embeddings)
	f16               bool
}

func embeddingColumns(sc *arrow.Schema) (embeddingCols, error) {
	c := embeddingCols{emb: -1, frames: -1, text: -1}
	v, _ := metaValue(sc.Metadata(), MetaSchemaVersion)
	if s, _ := metaValue(sc.Metadata(), MetaSchema); s != "embeddings" || (v != "1" && v != strconv.Itoa(EmbeddingSchemaVersion)) {
		return c, fmt.Errorf("%w: not an embeddings table of version 1 or %d (umt.schema %q, version %q)", ErrSchema, EmbeddingSchemaVersion, s, v)
	}
	want := []struct {
		name string
		typ  arrow.DataType
	}{{ColClipID, arrow.BinaryTypes.String}, {ColSourceURI, arrow.BinaryTypes.String}, {ColSpanStartS, arrow.PrimitiveTypes.Float64},
		{ColSpanEndS, arrow.PrimitiveTypes.Float64}, {ColCaption, arrow.BinaryTypes.String}}
	if len(sc.Fields()) < len(want)+1 {
		return c, fmt.Errorf("%w: embeddings table has %d columns", ErrSchema, len(sc.Fields()))
	}
	for i, w := range want {
		if f := sc.Field(i); f.Name != w.name || !arrow.TypeEqual(f.Type, w.typ) {
			return c, fmt.Errorf("%w: embeddings column %d is %s %s, want %s %s", ErrSchema, i, f.Name, f.Type, w.name, w.typ)
		}
	}
	elem := func(t arrow.DataType) bool {
		if arrow.TypeEqual(t, arrow.FixedWidthTypes.Float16) {
			c.f16 = true
			return true
		}
		return arrow.TypeEqual(t, arrow.PrimitiveTypes.Float32)
	}
	for i := len(want); i < len(sc.Fields()); i++ {
		f := sc.Field(i)
		bad := fmt.Errorf("%w: embeddings column %s has type %s", ErrSchema, f.Name, f.Type)
		switch f.Name {
		case ColEmbedding:
			t, ok := f.Type.(*arrow.FixedSizeListType)
			if !ok || !elem(t.Elem()) {
				return c, bad
			}
			c.emb, c.dim = i, int(t.Len())
		case ColFrameEmbeddings:
			t, ok := f.Type.(*arrow.FixedSizeListType)
			if !ok || !elem(t.Elem()) {
				return c, bad
			}
			c.frames, c.perClip = i, int(t.Len())
		case ColTextEmbedding:
			t, ok := f.Type.(*arrow.ListType)
			if !ok || !elem(t.Elem()) {
				return c, bad
			}
			c.text = i
		default:
			return c, fmt.Errorf("%w: unknown embeddings column %q", ErrSchema, f.Name)
		}
	}
	switch {
	case c.emb < 0 || c.dim <= 0:
		return c, fmt.Errorf("%w: embeddings table has no %s column", ErrSchema, ColEmbedding)
	case c.frames >= 0 && (c.perClip == 0 || c.perClip%c.dim != 0):
		return c, fmt.Errorf("%w: %s holds %d values, not a multiple of the dim %d", ErrSchema, ColFrameEmbeddings, c.perClip, c.dim)
	}
	c.perClip /= c.dim
	return c, nil
}

// NewEmbeddingRecord builds an embeddings record batch with schema sc (from EmbeddingInfo.Schema),
// rounding to float16 where the schema says so.
func NewEmbeddingRecord(mem memory.Allocator, sc *arrow.Schema, rows []EmbeddingRow) (arrow.RecordBatch, error) {
	c, err := embeddingColumns(sc)
	if err != nil {
		return nil, err
	}
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	var bits []uint16
	put := func(vb array.Builder, v []float32) {
		if fb, ok := vb.(*array.Float32Builder); ok {
			fb.AppendValues(v, nil)
			return
		}
		hb := vb.(*array.Float16Builder)
		bits = F16Bits(bits[:0], v)
		for _, h := range bits {
			hb.Append(float16.FromBits(h))
		}
	}
	for _, r := range rows {
		switch {
		case len(r.Embedding) != c.dim:
			return nil, fmt.Errorf("%w: clip %q: embedding has %d dims, want %d", ErrRow, r.ClipID, len(r.Embedding), c.dim)
		case c.frames >= 0 && len(r.FrameEmbeddings) != c.perClip*c.dim:
			return nil, fmt.Errorf("%w: clip %q: %d frame-embedding values, want %d×%d", ErrRow, r.ClipID, len(r.FrameEmbeddings), c.perClip, c.dim)
		case c.frames < 0 && r.FrameEmbeddings != nil || c.text < 0 && r.TextEmbedding != nil:
			return nil, fmt.Errorf("%w: clip %q has frame or text embeddings the schema has no column for", ErrRow, r.ClipID)
		case len(r.TextEmbedding)%c.dim != 0:
			return nil, fmt.Errorf("%w: clip %q: %d text-embedding values, not C×%d", ErrRow, r.ClipID, len(r.TextEmbedding), c.dim)
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
		for _, col := range []struct {
			i int
			v []float32
		}{{c.emb, r.Embedding}, {c.frames, r.FrameEmbeddings}} {
			if col.i >= 0 {
				fb := b.Field(col.i).(*array.FixedSizeListBuilder)
				fb.Append(true)
				put(fb.ValueBuilder(), col.v)
			}
		}
		if c.text >= 0 {
			lb := b.Field(c.text).(*array.ListBuilder)
			if r.TextEmbedding == nil {
				lb.AppendNull()
			} else {
				lb.Append(true)
				put(lb.ValueBuilder(), r.TextEmbedding)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

// EmbeddingRowsFrom decodes an embeddings record batch of version 1 or 2 (vectors are copied,
// float16 widened exactly to float32).
func EmbeddingRowsFrom(rec arrow.RecordBatch) (rows []EmbeddingRow, err error) {
	c, err := embeddingColumns(rec.Schema())
	if err != nil {
		return nil, err
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		return nil, fmt.Errorf("%w: embeddings batch is corrupt: %v", ErrSchema, err)
	}
	defer func() {
		if x := recover(); x != nil {
			rows, err = nil, fmt.Errorf("%w: embeddings batch is corrupt: %v", ErrSchema, x)
		}
	}()
	s := func(col, i int) string { return strings.Clone(rec.Column(col).(*array.String).Value(i)) }
	vals := func(a arrow.Array, lo, hi int) []float32 {
		if f, ok := a.(*array.Float32); ok {
			return append([]float32{}, f.Float32Values()[lo:hi]...)
		}
		// Through the bits: arrow's float16.Num.Float32 flushes subnormals to garbage.
		bits := make([]uint16, 0, hi-lo)
		for _, h := range a.(*array.Float16).Values()[lo:hi] {
			bits = append(bits, h.Uint16())
		}
		return Float32s(make([]float32, 0, hi-lo), bits)
	}
	fixed := func(col, i, n int) []float32 {
		l := rec.Column(col).(*array.FixedSizeList)
		lo := (l.Data().Offset() + i) * n
		return vals(l.ListValues(), lo, lo+n)
	}
	for i := 0; i < int(rec.NumRows()); i++ {
		r := EmbeddingRow{ClipID: s(0, i), SourceURI: s(1, i),
			SpanStartS: rec.Column(2).(*array.Float64).Value(i), SpanEndS: rec.Column(3).(*array.Float64).Value(i),
			Embedding: fixed(c.emb, i, c.dim)}
		if !rec.Column(4).IsNull(i) {
			r.Caption = s(4, i)
		}
		if c.frames >= 0 {
			r.FrameEmbeddings = fixed(c.frames, i, c.perClip*c.dim)
		}
		if c.text >= 0 && !rec.Column(c.text).IsNull(i) {
			l := rec.Column(c.text).(*array.List)
			lo, hi := l.ValueOffsets(i)
			if (hi-lo)%int64(c.dim) != 0 {
				return nil, fmt.Errorf("%w: row %d: %d text-embedding values, not C×%d", ErrSchema, i, hi-lo, c.dim)
			}
			r.TextEmbedding = vals(l.ListValues(), int(lo), int(hi))
		}
		rows = append(rows, r)
	}
	return rows, nil
}
