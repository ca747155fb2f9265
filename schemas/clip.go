package schemas

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
)

// Column names of the clip schema in schema order: version 1's, then the layout's teacher
// columns, then those version 2 added (the caption token columns only with a tokenizer).
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
	ColPaddedFrames    = "padded_frames"
	ColDamagedFrames   = "damaged_frames"
	ColExtraCaptions   = "extra_captions"
	ColCaptionIDs      = "caption_ids"
	ColCaptionMask     = "caption_mask"
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

	// Version 2. Zero and nil in rows read from a version-1 dataset.
	PaddedFrames  int32    // sampled frames that repeat a neighbour (--on-missing=pad)
	DamagedFrames int32    // sampled frames FFmpeg reported damaged, kept with --on-corrupt=keep
	ExtraCaptions []string // the clip's captions after Caption, in manifest order (a caption list)
	CaptionIDs    []int32  // [C, L] token ids of the C = len(Captions()) captions; nil without a tokenizer
	CaptionMask   []uint8  // [C, L] 1 on [CLS] and wordpieces, 0 on padding
}

// Captions returns every caption of the clip: Caption, then ExtraCaptions (none when Caption is
// empty).
func (r ClipRow) Captions() []string {
	if r.Caption == "" {
		return nil
	}
	return append([]string{r.Caption}, r.ExtraCaptions...)
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
	c.ExtraCaptions = slices.Clone(r.ExtraCaptions)
	c.CaptionIDs = slices.Clone(r.CaptionIDs)
	c.CaptionMask = slices.Clone(r.CaptionMask)
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

// ClipSchema returns the Arrow schema of a clip shard with the shapes of p, with p (SchemaVersion
// set) as JSON in the schema metadata: version p.SchemaVersion when that is an older version
// this package reads, else ClipSchemaVersion. Call p.Validate first. A frames-only provenance
// (layout "frames") has no teacher columns, under umt.schema "frames".
func ClipSchema(p Provenance) *arrow.Schema {
	p.SchemaVersion = p.version()
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
	if p.SchemaVersion >= 2 {
		fields = append(fields, v2Fields(p)...)
	}
	md := arrow.NewMetadata(
		[]string{MetaSchema, MetaSchemaVersion, MetaProvenance},
		[]string{p.Kind(), strconv.Itoa(p.SchemaVersion), string(js)},
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

// version is the schema version rows of p have: p.SchemaVersion when it is one this package
// reads (a dataset being read), else ClipSchemaVersion (a dataset being written).
func (p Provenance) version() int {
	if knownVersion(p.SchemaVersion) {
		return p.SchemaVersion
	}
	return ClipSchemaVersion
}

// v2Fields are the columns version 2 added.
func v2Fields(p Provenance) []arrow.Field {
	f := []arrow.Field{
		field(ColPaddedFrames, arrow.PrimitiveTypes.Int32, false),
		field(ColDamagedFrames, arrow.PrimitiveTypes.Int32, false),
		field(ColExtraCaptions, arrow.ListOfNonNullable(arrow.BinaryTypes.String), false),
	}
	if t := p.Text; t != nil {
		f = append(f,
			field(ColCaptionIDs, arrow.ListOfNonNullable(arrow.PrimitiveTypes.Int32), false, MetaShape, shape("C", t.MaxLen), "umt.range", shape(0, t.VocabSize)),
			field(ColCaptionMask, arrow.ListOfNonNullable(arrow.PrimitiveTypes.Uint8), false, MetaShape, shape("C", t.MaxLen)))
	}
	return f
}

// CheckClipSchema checks that s is a clip schema whose columns are exactly those
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
	if err := r.validateV2(p); err != nil {
		return bad("%v", err)
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

// validateV2 checks the columns version 2 added: frame counts within T, extra captions only
// after a caption, and token rows of length L per caption with ids in the vocabulary and a
// mask of ones then zeros.
func (r *ClipRow) validateV2(p Provenance) error {
	if p.version() == 1 {
		if r.PaddedFrames != 0 || r.DamagedFrames != 0 || r.ExtraCaptions != nil || r.CaptionIDs != nil || r.CaptionMask != nil {
			return fmt.Errorf("a version-1 dataset stores no frame counts, extra captions or caption tokens")
		}
		return nil
	}
	for _, c := range []struct {
		name string
		v    int32
	}{{ColPaddedFrames, r.PaddedFrames}, {ColDamagedFrames, r.DamagedFrames}} {
		if c.v < 0 || int(c.v) > p.Frames {
			return fmt.Errorf("%s = %d: want 0..%d", c.name, c.v, p.Frames)
		}
	}
	if r.Caption == "" && len(r.ExtraCaptions) > 0 {
		return fmt.Errorf("%d extra captions but no caption", len(r.ExtraCaptions))
	}
	if slices.Contains(r.ExtraCaptions, "") {
		return fmt.Errorf("an extra caption is empty")
	}
	t := p.Text
	if t == nil {
		if r.CaptionIDs != nil || r.CaptionMask != nil {
			return fmt.Errorf("caption tokens in a dataset without a tokenizer")
		}
		return nil
	}
	n := len(r.Captions()) * t.MaxLen
	if len(r.CaptionIDs) != n || len(r.CaptionMask) != n {
		return fmt.Errorf("%s/%s have %d/%d values, want %d captions × %d", ColCaptionIDs, ColCaptionMask, len(r.CaptionIDs), len(r.CaptionMask), len(r.Captions()), t.MaxLen)
	}
	for i, id := range r.CaptionIDs {
		if id < 0 || int(id) >= t.VocabSize {
			return fmt.Errorf("%s[%d] = %d: want an id in [0, %d)", ColCaptionIDs, i, id, t.VocabSize)
		}
		m := r.CaptionMask[i]
		if m > 1 || (i%t.MaxLen == 0 && m != 1) || (i%t.MaxLen > 0 && m > r.CaptionMask[i-1]) {
			return fmt.Errorf("%s of caption %d is not ones ([CLS] and wordpieces) then zeros", ColCaptionMask, i/t.MaxLen)
		}
	}
	return nil
}
