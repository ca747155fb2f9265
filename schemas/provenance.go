package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// ClipSchemaVersion is the version of the clip shard schema this package writes. It reads every
// version from 1: version 2 added the per-row padded and damaged frame counts, a clip's further
// captions and, when the provenance has a tokenizer, the caption token columns.
const ClipSchemaVersion = 2

// knownVersion reports whether v is a clip schema version this package reads.
func knownVersion(v int) bool { return v >= 1 && v <= ClipSchemaVersion }

// Schema metadata keys of every umt Arrow file.
const (
	MetaSchema        = "umt.schema"         // "clip", "failures" or "embeddings"
	MetaSchemaVersion = "umt.schema_version" // decimal integer
	MetaProvenance    = "umt.provenance"     // JSON of Provenance (clip shards)
	MetaShape         = "umt.shape"          // field metadata: logical shape, e.g. "[8,224,224,3]"
	MetaDType         = "umt.dtype"          // field metadata: logical element type, e.g. "float16"
	MetaUnit          = "umt.unit"           // field metadata: unit, e.g. "s"
)

// Precisions of stored teacher values.
const (
	PrecisionF16 = "f16" // IEEE float16 bits in uint16 columns
)

// ErrSchema classifies a schema or provenance that this version of umt cannot read or write:
// a different schema version, a missing or inconsistent provenance, a column of the wrong type.
var ErrSchema = errors.New("schema mismatch")

// ErrRow classifies a row whose values do not fit the dataset's provenance (wrong lengths,
// unsorted token indices, masks outside the stored tokens).
var ErrRow = errors.New("invalid row")

// Provenance describes how a clip dataset was made. It fixes every tensor shape of a row and is
// stored as JSON in each shard's schema metadata and in the dataset index, so a dataset can be
// traced back to the teacher weights, the sampler and the code that produced it.
type Provenance struct {
	SchemaVersion int    `json:"schema_version"` // ClipSchemaVersion; ClipSchema fills it in
	UMTVersion    string `json:"umt_version"`    // version of umt that wrote the dataset

	Teacher       string `json:"teacher"`        // e.g. "openai/clip-vit-base-patch16"
	TeacherSHA256 string `json:"teacher_sha256"` // sha256 of the teacher weights file, hex
	Resolution    int    `json:"resolution"`     // teacher input resolution in pixels (224, 196)
	Normalisation string `json:"normalisation"`  // e.g. "imagenet mean=0.485,0.456,0.406 std=0.229,0.224,0.225"

	Sampler string `json:"sampler"` // sampler configuration, also hashed into ClipID
	Seed    int64  `json:"seed"`    // seed of the sampler and of the mask draws

	Layout    string  `json:"layout"`     // "full" or "visible:M"; see ParseLayout
	Precision string  `json:"precision"`  // PrecisionF16
	MaskRatio float64 `json:"mask_ratio"` // UMT's mask ratio (0.8); visible per frame = HW - int(HW*ratio)
	Masks     int     `json:"masks"`      // M masks stored per row (the M of visible:M; 0 or more for full)

	Frames int `json:"frames"` // T frames per clip
	Size   int `json:"size"`   // S: frames are S×S RGB
	K      int `json:"teacher_layers"`
	HW     int `json:"teacher_hw"`  // tokens per frame, (S/patch)²
	D      int `json:"teacher_dim"` // teacher output dims after the projection (512 for B/16)

	// Text says how captions were tokenized; nil when the dataset stores no caption tokens.
	Text *TextProvenance `json:"text,omitempty"`

	// Extra holds free-form provenance (corpus name, manifest sha256, run id). Not validated.
	Extra map[string]string `json:"extra,omitempty"`
}

// TextProvenance fixes the caption token columns: which vocabulary, how long, whether UMT's
// pre_text cleaned the captions first. A trainer refuses a dataset tokenized differently from
// its text encoder.
type TextProvenance struct {
	Tokenizer   string `json:"tokenizer"`    // the vocabulary as named, e.g. "hf:bert-base-uncased"
	VocabSHA256 string `json:"vocab_sha256"` // sha256 of vocab.txt, hex
	VocabSize   int    `json:"vocab_size"`   // ids are in [0, vocab_size)
	MaxLen      int    `json:"max_len"`      // L: ids per caption, [CLS] + at most L−1 wordpieces, [PAD] after
	PreText     bool   `json:"pre_text"`     // captions went through UMT's pre_text before tokenizing
}

// Layout is a parsed Provenance.Layout.
type Layout struct {
	Visible bool // false: full (all tokens); true: visible:M
	M       int  // masks whose visible tokens are stored (visible layout only)
	// FramesOnly: no teacher columns at all. The first phase of a two-phase prep writes such a
	// dataset ("frames"); its second phase adds the teacher and writes a full or visible one.
	FramesOnly bool
}

// LayoutFrames is the layout of a frames-only dataset (no teacher columns).
const LayoutFrames = "frames"

func (l Layout) String() string {
	switch {
	case l.FramesOnly:
		return LayoutFrames
	case l.Visible:
		return "visible:" + strconv.Itoa(l.M)
	}
	return "full"
}

// ParseLayout parses "full", "visible:M" (M ≥ 1) or "frames".
func ParseLayout(s string) (Layout, error) {
	if s == "full" {
		return Layout{}, nil
	}
	if s == LayoutFrames {
		return Layout{FramesOnly: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "visible:"); ok {
		m, err := strconv.Atoi(rest)
		if err == nil && m >= 1 && m <= 1024 {
			return Layout{Visible: true, M: m}, nil
		}
	}
	return Layout{}, fmt.Errorf("%w: layout %q: want \"full\", \"visible:M\" with 1 ≤ M ≤ 1024, or \"frames\"", ErrSchema, s)
}

// VisiblePerFrame is UMT's visible token count per frame: HW − int(HW·MaskRatio).
func (p Provenance) VisiblePerFrame() int {
	return p.HW - int(float64(p.HW)*p.MaskRatio)
}

// Validate checks that p describes a dataset this version can write: known layout and
// precision, positive shapes that fit the Arrow columns, and masks consistent with the layout.
func (p Provenance) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: provenance: %s", ErrSchema, fmt.Sprintf(format, a...))
	}
	if p.SchemaVersion != 0 && !knownVersion(p.SchemaVersion) {
		return bad("schema version %d; this umt reads versions 1 to %d (upgrade umt)", p.SchemaVersion, ClipSchemaVersion)
	}
	if t := p.Text; t != nil {
		if p.SchemaVersion == 1 {
			return bad("a version-1 dataset stores no caption tokens, but the provenance names a tokenizer")
		}
		if t.Tokenizer == "" || len(t.VocabSHA256) != 64 || t.VocabSize < 5 || t.VocabSize > 1<<24 || t.MaxLen < 2 || t.MaxLen > 4096 {
			return bad("text %+v: want a tokenizer name, a 64-digit vocab sha256, 5 ≤ vocab_size ≤ 2^24 and 2 ≤ max_len ≤ 4096", *t)
		}
	}
	l, err := ParseLayout(p.Layout)
	if err != nil {
		return err
	}
	if l.FramesOnly {
		return p.validateFramesOnly(bad)
	}
	if p.Precision != PrecisionF16 {
		return bad("precision %q: only %q is supported", p.Precision, PrecisionF16)
	}
	if p.Teacher == "" {
		return bad("teacher is empty: name the teacher model")
	}
	for _, c := range []struct {
		name string
		v    int
		max  int
	}{{"frames", p.Frames, 1024}, {"size", p.Size, 4096}, {"teacher_layers", p.K, 256}, {"teacher_hw", p.HW, 65536}, {"teacher_dim", p.D, 65536}} {
		if c.v < 1 || c.v > c.max {
			return bad("%s = %d: want 1..%d", c.name, c.v, c.max)
		}
	}
	if frame := int64(p.Frames) * int64(p.Size) * int64(p.Size) * 3; frame > 1<<31-1 {
		return bad("frames column would be %d bytes per row; keep T·S·S·3 under 2 GiB", frame)
	}
	if int64(p.Frames)*int64(p.HW) > 1<<31-1 {
		return bad("T·HW does not fit int32 token indices")
	}
	if int64(p.K)*int64(p.Frames)*int64(p.HW)*int64(p.D) > 1<<31-1 {
		return bad("K·T·HW·D teacher values per row do not fit one Arrow list (2^31 values)")
	}
	if p.Masks < 0 {
		return bad("masks = %d: want ≥ 0", p.Masks)
	}
	if l.Visible && p.Masks != l.M {
		return bad("layout %s stores %d masks but masks = %d", p.Layout, l.M, p.Masks)
	}
	if p.Masks > 0 || l.Visible {
		if !(p.MaskRatio > 0 && p.MaskRatio < 1) {
			return bad("mask_ratio = %v: want 0 < ratio < 1 when masks are stored", p.MaskRatio)
		}
		if p.VisiblePerFrame() < 1 {
			return bad("mask_ratio %v leaves no visible token of %d", p.MaskRatio, p.HW)
		}
	}
	return nil
}

// HasTeacher reports whether the dataset stores teacher columns (every layout but "frames").
func (p Provenance) HasTeacher() bool { return p.Layout != LayoutFrames }

// Kind is the umt.schema name of the dataset's shards: "clip", or "frames" for a frames-only
// dataset (the same columns minus the teacher's).
func (p Provenance) Kind() string {
	if p.HasTeacher() {
		return "clip"
	}
	return "frames"
}

// validateFramesOnly checks a frames-only provenance: sampling shapes set, every teacher
// field empty (a frames dataset says nothing about a teacher; the teacher phase fills them).
func (p Provenance) validateFramesOnly(bad func(string, ...any) error) error {
	for _, c := range []struct {
		name string
		v    int
		max  int
	}{{"frames", p.Frames, 1024}, {"size", p.Size, 4096}} {
		if c.v < 1 || c.v > c.max {
			return bad("%s = %d: want 1..%d", c.name, c.v, c.max)
		}
	}
	if frame := int64(p.Frames) * int64(p.Size) * int64(p.Size) * 3; frame > 1<<31-1 {
		return bad("frames column would be %d bytes per row; keep T·S·S·3 under 2 GiB", frame)
	}
	if p.Teacher != "" || p.TeacherSHA256 != "" || p.Resolution != 0 || p.Normalisation != "" || p.Precision != "" ||
		p.K != 0 || p.HW != 0 || p.D != 0 || p.Masks != 0 || p.MaskRatio != 0 {
		return bad("layout frames stores no teacher: teacher, teacher_sha256, resolution, normalisation, precision, teacher_layers, teacher_hw, teacher_dim, masks and mask_ratio must be empty")
	}
	return nil
}

// ProvenanceFromSchema reads the provenance of a clip shard schema and checks its version.
func ProvenanceFromSchema(s *arrow.Schema) (Provenance, error) {
	var p Provenance
	md := s.Metadata()
	kind, _ := metaValue(md, MetaSchema)
	if kind != "clip" && kind != "frames" {
		return p, fmt.Errorf("%w: %s = %q, want \"clip\" or \"frames\" (not a umt clip shard)", ErrSchema, MetaSchema, kind)
	}
	v, _ := metaValue(md, MetaSchemaVersion)
	version, err := strconv.Atoi(v)
	if err != nil || !knownVersion(version) {
		return p, fmt.Errorf("%w: clip schema version %q; this umt reads versions 1 to %d (upgrade umt)", ErrSchema, v, ClipSchemaVersion)
	}
	js, ok := metaValue(md, MetaProvenance)
	if !ok {
		return p, fmt.Errorf("%w: no %s metadata", ErrSchema, MetaProvenance)
	}
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrSchema, MetaProvenance, err)
	}
	if p.SchemaVersion != version {
		return p, fmt.Errorf("%w: provenance says schema version %d, the schema %d", ErrSchema, p.SchemaVersion, version)
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	if p.Kind() != kind {
		return p, fmt.Errorf("%w: %s = %q but the provenance's layout %q makes %q shards", ErrSchema, MetaSchema, kind, p.Layout, p.Kind())
	}
	return p, nil
}

func metaValue(md arrow.Metadata, key string) (string, bool) {
	i := md.FindKey(key)
	if i < 0 {
		return "", false
	}
	return md.Values()[i], true
}
