package schemas

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FailureSchemaVersion is the version of the failures table schema.
const FailureSchemaVersion = 1

// FailureRow is one input that could not become a clip: what it was, which class of error
// (e.g. "truncated", "unsupported_codec", "timeout" — the error classes of the stage that
// failed), the message, the stage ("read_manifest", "decode", "teacher", "write") and the
// attempt number. Rows carry no wall-clock time so that a rerun writes identical files.
type FailureRow struct {
	URI        string
	ClipID     string  // "" when the failure happened before a clip was identified
	SpanStartS float64 // seconds; 0 when unknown
	SpanEndS   float64 // seconds; 0 when unknown
	ErrorClass string
	Message    string
	Stage      string
	Attempt    int // 1-based
}

// FailureSchema returns the Arrow schema of a failures file.
func FailureSchema() *arrow.Schema {
	md := arrow.NewMetadata([]string{MetaSchema, MetaSchemaVersion}, []string{"failures", strconv.Itoa(FailureSchemaVersion)})
	return arrow.NewSchema([]arrow.Field{
		{Name: "uri", Type: arrow.BinaryTypes.String},
		{Name: "clip_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "span_start_s", Type: arrow.PrimitiveTypes.Float64, Metadata: arrow.NewMetadata([]string{MetaUnit}, []string{"s"})},
		{Name: "span_end_s", Type: arrow.PrimitiveTypes.Float64, Metadata: arrow.NewMetadata([]string{MetaUnit}, []string{"s"})},
		{Name: "error_class", Type: arrow.BinaryTypes.String},
		{Name: "message", Type: arrow.BinaryTypes.String},
		{Name: "stage", Type: arrow.BinaryTypes.String},
		{Name: "attempt", Type: arrow.PrimitiveTypes.Int32},
	}, &md)
}

// NewFailureRecord builds a failures record batch. The caller releases it.
func NewFailureRecord(mem memory.Allocator, rows []FailureRow) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(mem, FailureSchema())
	defer b.Release()
	for _, r := range rows {
		if r.URI == "" || r.ErrorClass == "" || r.Stage == "" {
			return nil, fmt.Errorf("%w: failure row needs uri, error_class and stage (got %q, %q, %q)", ErrRow, r.URI, r.ErrorClass, r.Stage)
		}
		b.Field(0).(*array.StringBuilder).Append(r.URI)
		if r.ClipID == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(r.ClipID)
		}
		b.Field(2).(*array.Float64Builder).Append(r.SpanStartS)
		b.Field(3).(*array.Float64Builder).Append(r.SpanEndS)
		b.Field(4).(*array.StringBuilder).Append(r.ErrorClass)
		b.Field(5).(*array.StringBuilder).Append(r.Message)
		b.Field(6).(*array.StringBuilder).Append(r.Stage)
		b.Field(7).(*array.Int32Builder).Append(int32(r.Attempt))
	}
	return b.NewRecordBatch(), nil
}

// FailureRowsFrom decodes a failures record batch after checking its schema.
func FailureRowsFrom(rec arrow.RecordBatch) (rows []FailureRow, err error) {
	if !rec.Schema().Equal(FailureSchema()) {
		return nil, fmt.Errorf("%w: not a failures table (schema %s)", ErrSchema, rec.Schema())
	}
	if v, _ := metaValue(rec.Schema().Metadata(), MetaSchemaVersion); v != strconv.Itoa(FailureSchemaVersion) {
		return nil, fmt.Errorf("%w: failures schema version %q, want %d", ErrSchema, v, FailureSchemaVersion)
	}
	if err := array.ValidateRecordFull(rec); err != nil {
		return nil, fmt.Errorf("%w: failures batch is corrupt: %v", ErrSchema, err)
	}
	defer func() {
		if x := recover(); x != nil {
			rows, err = nil, fmt.Errorf("%w: failures batch is corrupt: %v", ErrSchema, x)
		}
	}()
	s := func(c, i int) string { return strings.Clone(rec.Column(c).(*array.String).Value(i)) }
	for i := 0; i < int(rec.NumRows()); i++ {
		r := FailureRow{
			URI:        s(0, i),
			SpanStartS: rec.Column(2).(*array.Float64).Value(i),
			SpanEndS:   rec.Column(3).(*array.Float64).Value(i),
			ErrorClass: s(4, i),
			Message:    s(5, i),
			Stage:      s(6, i),
			Attempt:    int(rec.Column(7).(*array.Int32).Value(i)),
		}
		if !rec.Column(1).IsNull(i) {
			r.ClipID = s(1, i)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
