package schemas

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// NewClipRecord builds one record batch of the clip schema from rows, which must each pass
// Validate against p. The caller releases the record.
func NewClipRecord(mem memory.Allocator, p Provenance, rows []ClipRow) (arrow.RecordBatch, error) {
	for i := range rows {
		if err := rows[i].Validate(p); err != nil {
			return nil, err
		}
	}
	sc := ClipSchema(p)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	n := len(rows)
	for i := range sc.Fields() {
		b.Field(i).Reserve(n)
	}
	str := func(i int) *array.StringBuilder { return b.Field(i).(*array.StringBuilder) }
	f64 := func(i int) *array.Float64Builder { return b.Field(i).(*array.Float64Builder) }
	nullable := func(sb *array.StringBuilder, s string) {
		if s == "" {
			sb.AppendNull()
		} else {
			sb.Append(s)
		}
	}
	pts := b.Field(6).(*array.FixedSizeListBuilder)
	tms := b.Field(7).(*array.FixedSizeListBuilder)
	frames := b.Field(8).(*array.FixedSizeBinaryBuilder)
	for i := range rows {
		r := &rows[i]
		str(0).Append(r.ClipID)
		str(1).Append(r.SourceURI)
		f64(2).Append(r.SpanStartS)
		f64(3).Append(r.SpanEndS)
		nullable(str(4), r.Caption)
		nullable(str(5), r.Label)
		pts.Append(true)
		pts.ValueBuilder().(*array.Int64Builder).AppendValues(r.FramePTS, nil)
		tms.Append(true)
		tms.ValueBuilder().(*array.Float64Builder).AppendValues(r.FrameTimeS, nil)
		frames.Append(r.Frames)
	}
	if p.HasTeacher() {
		appendTeacher(b, p, rows)
	}
	if p.version() >= 2 {
		appendV2(b, p, rows)
	}
	return b.NewRecordBatch(), nil
}

// v2Col is the index of the first column version 2 added.
func v2Col(p Provenance) int {
	if p.HasTeacher() {
		return 14
	}
	return 9
}

// appendV2 appends the columns version 2 added.
func appendV2(b *array.RecordBuilder, p Provenance, rows []ClipRow) {
	c := v2Col(p)
	padded := b.Field(c).(*array.Int32Builder)
	damaged := b.Field(c + 1).(*array.Int32Builder)
	extra := b.Field(c + 2).(*array.ListBuilder)
	for i := range rows {
		r := &rows[i]
		padded.Append(r.PaddedFrames)
		damaged.Append(r.DamagedFrames)
		extra.Append(true)
		extra.ValueBuilder().(*array.StringBuilder).AppendValues(r.ExtraCaptions, nil)
	}
	if p.Text == nil {
		return
	}
	ids := b.Field(c + 3).(*array.ListBuilder)
	mask := b.Field(c + 4).(*array.ListBuilder)
	for i := range rows {
		ids.Append(true)
		ids.ValueBuilder().(*array.Int32Builder).AppendValues(rows[i].CaptionIDs, nil)
		mask.Append(true)
		mask.ValueBuilder().(*array.Uint8Builder).AppendValues(rows[i].CaptionMask, nil)
	}
}

// appendTeacher appends the teacher columns (9 onwards) of rows.
func appendTeacher(b *array.RecordBuilder, p Provenance, rows []ClipRow) {
	layers := b.Field(9).(*array.FixedSizeListBuilder)
	tokens := b.Field(10).(*array.ListBuilder)
	feats := b.Field(11).(*array.ListBuilder)
	attn := b.Field(12).(*array.FixedSizeListBuilder)
	masks := b.Field(13).(*array.ListBuilder)
	for i := range rows {
		r := &rows[i]
		layers.Append(true)
		layers.ValueBuilder().(*array.Int32Builder).AppendValues(r.TeacherLayers, nil)
		tokens.Append(true)
		tokens.ValueBuilder().(*array.Int32Builder).AppendValues(r.TeacherTokens, nil)
		feats.Append(true)
		feats.ValueBuilder().(*array.Uint16Builder).AppendValues(r.TeacherFeatures, nil)
		attn.Append(true)
		attn.ValueBuilder().(*array.Uint16Builder).AppendValues(r.TeacherCLSAttn, nil)
		if p.Masks == 0 {
			masks.AppendNull()
		} else {
			masks.Append(true)
			masks.ValueBuilder().(*array.Int32Builder).AppendValues(r.Masks, nil)
		}
	}
}

// ClipBatch gives typed, bounds-checked access to the rows of one clip record batch.
type ClipBatch struct {
	P   Provenance
	rec arrow.RecordBatch

	clipID, uri, caption, label *array.String
	start, end                  *array.Float64
	pts, tms, layers, attn      *array.FixedSizeList
	frames                      *array.FixedSizeBinary
	tokens, feats, masks        *array.List

	padded, damaged        *array.Int32 // nil in a version-1 batch
	extra, capIDs, capMask *array.List  // capIDs, capMask nil without a tokenizer
}

// NewClipBatch checks rec against the clip schema of p — column types and a full structural
// validation of every buffer, so a corrupted batch is an error here and never a panic later —
// and returns typed accessors. It does not retain rec: keep rec alive while using the batch.
func NewClipBatch(p Provenance, rec arrow.RecordBatch) (b *ClipBatch, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%w: record batch is corrupt: %v", ErrSchema, r)
		}
	}()
	want := ClipSchema(p)
	if int(rec.NumCols()) != len(want.Fields()) {
		return nil, fmt.Errorf("%w: record batch has %d columns, want %d", ErrSchema, rec.NumCols(), len(want.Fields()))
	}
	for i, f := range want.Fields() {
		if !arrow.TypeEqual(rec.Column(i).DataType(), f.Type) {
			return nil, fmt.Errorf("%w: column %s is %s, want %s", ErrSchema, f.Name, rec.Column(i).DataType(), f.Type)
		}
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		return nil, fmt.Errorf("%w: record batch is corrupt: %v", ErrSchema, err)
	}
	b = &ClipBatch{P: p, rec: rec}
	b.clipID = rec.Column(0).(*array.String)
	b.uri = rec.Column(1).(*array.String)
	b.start = rec.Column(2).(*array.Float64)
	b.end = rec.Column(3).(*array.Float64)
	b.caption = rec.Column(4).(*array.String)
	b.label = rec.Column(5).(*array.String)
	b.pts = rec.Column(6).(*array.FixedSizeList)
	b.tms = rec.Column(7).(*array.FixedSizeList)
	b.frames = rec.Column(8).(*array.FixedSizeBinary)
	if p.HasTeacher() {
		b.layers = rec.Column(9).(*array.FixedSizeList)
		b.tokens = rec.Column(10).(*array.List)
		b.feats = rec.Column(11).(*array.List)
		b.attn = rec.Column(12).(*array.FixedSizeList)
		b.masks = rec.Column(13).(*array.List)
	}
	if c := v2Col(p); int(rec.NumCols()) > c {
		b.padded = rec.Column(c).(*array.Int32)
		b.damaged = rec.Column(c + 1).(*array.Int32)
		b.extra = rec.Column(c + 2).(*array.List)
		if p.Text != nil {
			b.capIDs = rec.Column(c + 3).(*array.List)
			b.capMask = rec.Column(c + 4).(*array.List)
		}
	}
	return b, nil
}

// Len is the number of rows in the batch.
func (b *ClipBatch) Len() int { return int(b.rec.NumRows()) }

// ClipID returns row i's clip id (a copy).
func (b *ClipBatch) ClipID(i int) string { return strings.Clone(b.clipID.Value(i)) }

// Row returns row i. Tensor fields alias the record's buffers (zero-copy); strings are copied.
// The row is validated against the provenance, so a reader never hands out a row whose lengths
// disagree with the dataset's shapes.
func (b *ClipBatch) Row(i int) (r ClipRow, err error) {
	if i < 0 || i >= b.Len() {
		return r, fmt.Errorf("row %d out of range [0, %d)", i, b.Len())
	}
	defer func() {
		if x := recover(); x != nil {
			r, err = ClipRow{}, fmt.Errorf("%w: row %d is corrupt: %v", ErrSchema, i, x)
		}
	}()
	nullable := func(a *array.String) string {
		if a.IsNull(i) {
			return ""
		}
		return strings.Clone(a.Value(i))
	}
	r = ClipRow{
		ClipID:     strings.Clone(b.clipID.Value(i)),
		SourceURI:  strings.Clone(b.uri.Value(i)),
		SpanStartS: b.start.Value(i),
		SpanEndS:   b.end.Value(i),
		Caption:    nullable(b.caption),
		Label:      nullable(b.label),
		Frames:     b.frames.Value(i),
	}
	r.FramePTS = fixedSlice(b.pts, i, func(a arrow.Array) []int64 { return a.(*array.Int64).Int64Values() })
	r.FrameTimeS = fixedSlice(b.tms, i, func(a arrow.Array) []float64 { return a.(*array.Float64).Float64Values() })
	b.rowV2(i, &r)
	if !b.P.HasTeacher() {
		if err := r.Validate(b.P); err != nil {
			return ClipRow{}, err
		}
		return r, nil
	}
	r.TeacherLayers = fixedSlice(b.layers, i, func(a arrow.Array) []int32 { return a.(*array.Int32).Int32Values() })
	r.TeacherCLSAttn = fixedSlice(b.attn, i, func(a arrow.Array) []uint16 { return a.(*array.Uint16).Uint16Values() })
	r.TeacherTokens = listSlice(b.tokens, i, func(a arrow.Array) []int32 { return a.(*array.Int32).Int32Values() })
	r.TeacherFeatures = listSlice(b.feats, i, func(a arrow.Array) []uint16 { return a.(*array.Uint16).Uint16Values() })
	if !b.masks.IsNull(i) {
		r.Masks = listSlice(b.masks, i, func(a arrow.Array) []int32 { return a.(*array.Int32).Int32Values() })
	}
	if b.P.Masks == 0 && r.Masks != nil && len(r.Masks) == 0 {
		r.Masks = nil
	}
	if err := r.Validate(b.P); err != nil {
		return ClipRow{}, err
	}
	return r, nil
}

// rowV2 fills the fields of the columns version 2 added (strings copied, tokens aliased).
func (b *ClipBatch) rowV2(i int, r *ClipRow) {
	if b.padded == nil {
		return
	}
	r.PaddedFrames, r.DamagedFrames = b.padded.Value(i), b.damaged.Value(i)
	lo, hi := b.extra.ValueOffsets(i)
	if hi > lo {
		s := b.extra.ListValues().(*array.String)
		for j := lo; j < hi; j++ {
			r.ExtraCaptions = append(r.ExtraCaptions, strings.Clone(s.Value(int(j))))
		}
	}
	if b.capIDs != nil {
		r.CaptionIDs = listSlice(b.capIDs, i, func(a arrow.Array) []int32 { return a.(*array.Int32).Int32Values() })
		r.CaptionMask = listSlice(b.capMask, i, func(a arrow.Array) []uint8 { return a.(*array.Uint8).Uint8Values() })
		if len(r.CaptionIDs) == 0 && len(r.CaptionMask) == 0 { // a row without captions: nil, as written
			r.CaptionIDs, r.CaptionMask = nil, nil
		}
	}
}

func fixedSlice[T any](a *array.FixedSizeList, i int, vals func(arrow.Array) []T) []T {
	n := a.DataType().(*arrow.FixedSizeListType).Len()
	off := a.Data().Offset()
	v := vals(a.ListValues())
	lo := (off + i) * int(n)
	return v[lo : lo+int(n) : lo+int(n)]
}

func listSlice[T any](a *array.List, i int, vals func(arrow.Array) []T) []T {
	lo, hi := a.ValueOffsets(i)
	v := vals(a.ListValues())
	return v[lo:hi:hi]
}
