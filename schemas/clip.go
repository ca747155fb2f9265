package schemas

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// Column names of the clip schema, version 1, in schema order.
const (
	ColClipID          = "clip_id"
	ColSourceURI       = "source_uri"
	ColSpanStartS      = "span_start_s"
	ColSpanEndS        = "span_end_s"
	ColCaption         = "caption"
	ColLabel           = "label"
	ColFramePTS        = "frame_pts"
	ColFrameTimeS      = "frame_time_s"
	ColFrames          = "frames"
	ColTeacherLayers   = "teacher_layers"
	ColTeacherTokens   = "teacher_tokens"
	ColTeacherFeatures = "teacher_features"
	ColTeacherCLSAttn  = "teacher_cls_attn"
	ColMasks           = "masks"
)

// ClipRow is one row of a clip shard. Shapes are fixed by the dataset's Provenance
// (T frames, S pixels, K layers, HW tokens per frame, D dims, M masks, V = VisiblePerFrame).
//
// Rows returned by a reader may alias the shard's memory (a memory map): they are valid until
// the dataset is closed. Clone copies a row that must outlive it.
type ClipRow struct {
	ClipID     string  // ClipID(SourceURI, SpanStartS, SpanEndS, sampler)
	SourceURI  string  // the video as given in the manifest
	SpanStartS float64 // seconds from the start of the video
	SpanEndS   float64 // seconds; ≥ SpanStartS
	Caption    string  // "" is stored as null
	Label      string  // "" is stored as null

	FramePTS   []int64   // [T] presentation timestamps in the stream's time base
	FrameTimeS []float64 // [T] seconds from the start of the video
	Frames     []byte    // [T, S, S, 3] RGB uint8, row-major

	TeacherLayers   []int32  // [K] 0-based teacher block indices, ascending
	TeacherTokens   []int32  // [N_tok] stored token indices t·HW + p, strictly ascending
	TeacherFeatures []uint16 // [K, N_tok, D] float16 bits, L2-normalised teacher targets
	TeacherCLSAttn  []uint16 // [T, HW] float16 bits, last block's head-mean CLS→patch attention
	Masks           []int32  // [M, T, V] visible token indices t·HW + p, ascending within each frame; nil when M = 0
}

// Clone returns a deep copy of r that shares no memory with it.
func (r ClipRow) Clone() ClipRow {
	c := r
	c.FramePTS = append([]int64(nil), r.FramePTS...)
	c.FrameTimeS = append([]float64(nil), r.FrameTimeS...)
	c.Frames = append([]byte(nil), r.Frames...)
	c.TeacherLayers = append([]int32(nil), r.TeacherLayers...)
	c.TeacherTokens = append([]int32(nil), r.TeacherTokens...)
	c.TeacherFeatures = append([]uint16(nil), r.TeacherFeatures...)
	c.TeacherCLSAttn = append([]uint16(nil), r.TeacherCLSAttn...)
	if r.Masks != nil {
		c.Masks = append([]int32(nil), r.Masks...)
	}
	return c
}

// FrameBytes is the size of the frames column per row: T·S·S·3.
func (p Provenance) FrameBytes() int { return p.Frames * p.Size * p.Size * 3 }

func field(name string, t arrow.DataType, nullable bool, kv ...string) arrow.Field {
	var md arrow.Metadata
	if len(kv) > 0 {
		keys, vals := make([]string, 0, len(kv)/2), make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			keys, vals = append(keys, kv[i]), append(vals, kv[i+1])
		}
		md = arrow.NewMetadata(keys, vals)
	}
	return arrow.Field{Name: name, Type: t, Nullable: nullable, Metadata: md}
}

func shape(dims ...any) string {
	s := "["
	for i, d := range dims {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(d)
	}
	return s + "]"
}

// ClipSchema returns the Arrow schema, version 1, of a clip shard with the shapes of p, with p
// (SchemaVersion set) as JSON in the schema metadata. Call p.Validate first. A frames-only
// provenance (layout "frames") gives the first nine columns only, under umt.schema "frames".
func ClipSchema(p Provenance) *arrow.Schema {
	p.SchemaVersion = ClipSchemaVersion
	js, err := json.Marshal(p)
	if err != nil { // only a map of strings and scalars: cannot fail
		js = []byte("{}")
	}
	T := int32(p.Frames)
	fields := []arrow.Field{
		field(ColClipID, arrow.BinaryTypes.String, false),
		field(ColSourceURI, arrow.BinaryTypes.String, false),
		field(ColSpanStartS, arrow.PrimitiveTypes.Float64, false, MetaUnit, "s"),
		field(ColSpanEndS, arrow.PrimitiveTypes.Float64, false, MetaUnit, "s"),
		field(ColCaption, arrow.BinaryTypes.String, true),
		field(ColLabel, arrow.BinaryTypes.String, true),
		field(ColFramePTS, arrow.FixedSizeListOfNonNullable(T, arrow.PrimitiveTypes.Int64), false, MetaShape, shape(T), MetaUnit, "stream time base"),
		field(ColFrameTimeS, arrow.FixedSizeListOfNonNullable(T, arrow.PrimitiveTypes.Float64), false, MetaShape, shape(T), MetaUnit, "s"),
		field(ColFrames, &arrow.FixedSizeBinaryType{ByteWidth: p.FrameBytes()}, false, MetaShape, shape(T, p.Size, p.Size, 3), MetaDType, "uint8"),
	}
	if p.HasTeacher() {
		fields = append(fields, teacherFields(p)...)
	}
	md := arrow.NewMetadata(
		[]string{MetaSchema, MetaSchemaVersion, MetaProvenance},
		[]string{p.Kind(), strconv.Itoa(ClipSchemaVersion), string(js)},
	)
	return arrow.NewSchema(fields, &md)
}

// teacherFields are the teacher columns of every layout but "frames".
func teacherFields(p Provenance) []arrow.Field {
	T, K, N := int32(p.Frames), int32(p.K), int32(p.Frames*p.HW)
	return []arrow.Field{
		field(ColTeacherLayers, arrow.FixedSizeListOfNonNullable(K, arrow.PrimitiveTypes.Int32), false, MetaShape, shape(K)),
		field(ColTeacherTokens, arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32), false, MetaShape, "[N_tok]", "umt.range", shape(0, N)),
		field(ColTeacherFeatures, arrow.ListOfNonNullable(arrow.PrimitiveTypes.Uint16), false, MetaShape, shape(K, "N_tok", p.D), MetaDType, "float16"),
		field(ColTeacherCLSAttn, arrow.FixedSizeListOfNonNullable(N, arrow.PrimitiveTypes.Uint16), false, MetaShape, shape(T, p.HW), MetaDType, "float16"),
		field(ColMasks, arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32), true, MetaShape, shape(p.Masks, T, p.VisiblePerFrame())),
	}
}

// CheckClipSchema checks that s is a version-1 clip schema whose columns are exactly those
// ClipSchema builds from its own provenance, and returns that provenance.
func CheckClipSchema(s *arrow.Schema) (Provenance, error) {
	p, err := ProvenanceFromSchema(s)
	if err != nil {
		return p, err
	}
	want := ClipSchema(p)
	if len(s.Fields()) != len(want.Fields()) {
		return p, fmt.Errorf("%w: %d columns, want %d", ErrSchema, len(s.Fields()), len(want.Fields()))
	}
	for i, f := range want.Fields() {
		g := s.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) || g.Nullable != f.Nullable {
			return p, fmt.Errorf("%w: column %d is %s %s (nullable %v), want %s %s (nullable %v)",
				ErrSchema, i, g.Name, g.Type, g.Nullable, f.Name, f.Type, f.Nullable)
		}
	}
	return p, nil
}

// Validate checks that r fits the dataset described by p (which must be valid): every length,
// token indices strictly ascending and in range, the full layout storing every token, masks
// with V visible tokens per frame inside that frame, and the visible layout storing exactly the
// union of its masks.
func (r *ClipRow) Validate(p Provenance) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: clip %q: %s", ErrRow, r.ClipID, fmt.Sprintf(format, a...))
	}
	if r.ClipID == "" || r.SourceURI == "" {
		return bad("clip_id and source_uri must be set")
	}
	if math.IsNaN(r.SpanStartS) || math.IsInf(r.SpanStartS, 0) || math.IsNaN(r.SpanEndS) || math.IsInf(r.SpanEndS, 0) || r.SpanEndS < r.SpanStartS {
		return bad("span [%v, %v] s is not a finite, ordered interval", r.SpanStartS, r.SpanEndS)
	}
	T, N := p.Frames, p.Frames*p.HW
	if !p.HasTeacher() {
		if len(r.TeacherLayers)+len(r.TeacherTokens)+len(r.TeacherFeatures)+len(r.TeacherCLSAttn)+len(r.Masks) > 0 {
			return bad("a frames-only dataset stores no teacher values or masks")
		}
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{ColFramePTS, len(r.FramePTS), T},
		{ColFrameTimeS, len(r.FrameTimeS), T},
		{ColFrames, len(r.Frames), p.FrameBytes()},
		{ColTeacherLayers, len(r.TeacherLayers), p.K},
		{ColTeacherFeatures, len(r.TeacherFeatures), p.K * len(r.TeacherTokens) * p.D},
		{ColTeacherCLSAttn, len(r.TeacherCLSAttn), N},
		{ColMasks, len(r.Masks), p.Masks * T * p.VisiblePerFrame()},
	}
	for _, c := range checks {
		if c.got != c.want {
			return bad("%s has %d values, want %d", c.name, c.got, c.want)
		}
	}
	for i, t := range r.TeacherTokens {
		if t < 0 || int(t) >= N || (i > 0 && t <= r.TeacherTokens[i-1]) {
			return bad("teacher_tokens[%d] = %d: want strictly ascending indices in [0, %d)", i, t, N)
		}
	}
	l, _ := ParseLayout(p.Layout)
	if !l.Visible && len(r.TeacherTokens) != N {
		return bad("layout full stores all %d tokens, got %d", N, len(r.TeacherTokens))
	}
	if err := r.validateMasks(p, l.Visible); err != nil {
		return bad("%v", err)
	}
	return nil
}

func (r *ClipRow) validateMasks(p Provenance, visible bool) error {
	V, HW := p.VisiblePerFrame(), p.HW
	stored := make(map[int32]bool, len(r.TeacherTokens))
	for _, t := range r.TeacherTokens {
		stored[t] = false
	}
	for m := 0; m < p.Masks; m++ {
		for t := 0; t < p.Frames; t++ {
			blk := r.Masks[(m*p.Frames+t)*V : (m*p.Frames+t+1)*V]
			for i, x := range blk {
				if int(x) < t*HW || int(x) >= (t+1)*HW || (i > 0 && x <= blk[i-1]) {
					return fmt.Errorf("mask %d frame %d: index %d is not ascending inside [%d, %d)", m, t, x, t*HW, (t+1)*HW)
				}
				if _, ok := stored[x]; !ok {
					return fmt.Errorf("mask %d frame %d: token %d is visible but its teacher features are not stored", m, t, x)
				}
				stored[x] = true
			}
		}
	}
	if visible {
		for t, used := range stored {
			if !used {
				return fmt.Errorf("layout visible stores token %d that no mask makes visible", t)
			}
		}
	}
	return nil
}
