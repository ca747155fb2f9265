package schemas

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FailureSchemaVersion is the version of the failures table schema.
const FailureSchemaVersion = 1

// FailureClass says whose fault a failed input is; the failures table's error_class column
// holds one. Every producer (transforms/video, transforms/manifest, pipelines/prep) takes its
// classes from this list, and NewFailureRecord refuses any other.
type FailureClass string

// The failure classes, in the order docs/DATASET.md lists them.
const (
	ClassManifest      FailureClass = "manifest"        // a manifest row that cannot be parsed (no uri, bad span, bad JSON)
	ClassBadText       FailureClass = "bad_text"        // a caption or label that is not UTF-8, with --on-bad-text=fail
	ClassDuplicate     FailureClass = "duplicate"       // a second manifest row for the same clip (uri, span, sampler)
	ClassMissing       FailureClass = "missing"         // no such file or object, HTTP 404/410
	ClassUnavailable   FailureClass = "unavailable"     // refused, cut or timed-out connection, HTTP 408/429/5xx after retries
	ClassDenied        FailureClass = "denied"          // HTTP 401, 403 or another 4xx
	ClassEmpty         FailureClass = "empty"           // a 0-byte file
	ClassNotMedia      FailureClass = "not_media"       // no container FFmpeg recognises as video
	ClassNoVideoStream FailureClass = "no_video_stream" // the file never had a video track
	ClassTruncated     FailureClass = "truncated"       // the file ends inside a unit of its container, or well before its declared end
	ClassCorrupt       FailureClass = "corrupt"         // damaged data in a whole file (moov, sample description, a sampled frame, a frames-dataset row)
	ClassUnsupported   FailureClass = "unsupported"     // no decoder, a URI scheme no opener takes, or an entry the dataset cannot hold
	ClassTooLarge      FailureClass = "too_large"       // over a configured limit
	ClassTimeout       FailureClass = "timeout"         // the decode deadline passed
	ClassBadSpan       FailureClass = "bad_span"        // the row's span starts at or after the video's end
	ClassTeacher       FailureClass = "teacher"         // the teacher failed on decoded frames
	ClassInternal      FailureClass = "internal"        // a defect of umt itself, never bad input
)

// FailureClasses lists every class, in the order of the constants.
func FailureClasses() []FailureClass {
	return []FailureClass{ClassManifest, ClassBadText, ClassDuplicate, ClassMissing, ClassUnavailable,
		ClassDenied, ClassEmpty, ClassNotMedia, ClassNoVideoStream, ClassTruncated, ClassCorrupt,
		ClassUnsupported, ClassTooLarge, ClassTimeout, ClassBadSpan, ClassTeacher, ClassInternal}
}

// Known reports whether c is one of FailureClasses.
func (c FailureClass) Known() bool { return slices.Contains(FailureClasses(), c) }

// Stage is where in a run an input failed; the failures table's stage column holds one. A row
// that cannot be staged or written fails its bundle, which the runner retries: no stage "write".
type Stage string

// The stages of a prep run, in pipeline order.
const (
	StageReadManifest Stage = "read_manifest" // parsing and identifying manifest rows
	StageDecode       Stage = "decode"        // opening, decoding and sampling the video
	StageReadFrames   Stage = "read_frames"   // reading a clip from a frames dataset (--phase=teacher)
	StageTeacher      Stage = "teacher"       // the CLIP teacher
)

// Stages lists every stage in pipeline order.
func Stages() []Stage {
	return []Stage{StageReadManifest, StageDecode, StageReadFrames, StageTeacher}
}

// Known reports whether s is one of Stages.
func (s Stage) Known() bool { return slices.Contains(Stages(), s) }

// FailureRow is one input that could not become a clip: what it was, whose fault (its class),
// the message, the stage it failed in and the attempt number. Rows carry no wall-clock time so
// that a rerun writes identical files. Rows read from a file keep whatever class and stage the
// file holds (a newer umt may know more); rows written must use the known ones.
type FailureRow struct {
	URI        string
	ClipID     string  // "" when the failure happened before a clip was identified
	SpanStartS float64 // seconds; 0 when unknown
	SpanEndS   float64 // seconds; 0 when unknown
	ErrorClass FailureClass
	Message    string
	Stage      Stage
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
		if r.URI == "" || !r.ErrorClass.Known() || !r.Stage.Known() {
			return nil, fmt.Errorf("%w: failure row needs a uri, a known error_class (%v) and a known stage (%v); got %q, %q, %q",
				ErrRow, FailureClasses(), Stages(), r.URI, r.ErrorClass, r.Stage)
		}
		b.Field(0).(*array.StringBuilder).Append(r.URI)
		if r.ClipID == "" {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(r.ClipID)
		}
		b.Field(2).(*array.Float64Builder).Append(r.SpanStartS)
		b.Field(3).(*array.Float64Builder).Append(r.SpanEndS)
		b.Field(4).(*array.StringBuilder).Append(string(r.ErrorClass))
		b.Field(5).(*array.StringBuilder).Append(r.Message)
		b.Field(6).(*array.StringBuilder).Append(string(r.Stage))
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
			ErrorClass: FailureClass(s(4, i)),
			Message:    s(5, i),
			Stage:      Stage(s(6, i)),
			Attempt:    int(rec.Column(7).(*array.Int32).Value(i)),
		}
		if !rec.Column(1).IsNull(i) {
			r.ClipID = s(1, i)
		}
		rows = append(rows, r)
	}
	return rows, nil
}
