package schemas_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/x448/float16"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
)

// roundTrip writes rows as one record batch into an in-memory Arrow IPC file and reads them back.
func roundTrip(t *testing.T, mem memory.Allocator, p schemas.Provenance, rows []schemas.ClipRow) []schemas.ClipRow {
	t.Helper()
	rec, err := schemas.NewClipRecord(mem, p, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := ipc.NewFileReader(bytes.NewReader(buf.Bytes()), ipc.WithAllocator(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := schemas.CheckClipSchema(r.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if p.SchemaVersion == 0 {
		p.SchemaVersion = schemas.ClipSchemaVersion
	}
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("provenance round trip:\n got %+v\nwant %+v", got, p)
	}
	back, err := r.RecordBatchAt(0)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Release()
	b, err := schemas.NewClipBatch(got, back)
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.ClipRow
	for i := 0; i < b.Len(); i++ {
		row, err := b.Row(i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, row.Clone())
	}
	return out
}

// Property: any valid rows, in every layout and every schema version (a version-1 dataset still
// reads; version 2 with and without caption tokens), come back identical (nullable strings
// included).
func TestClipRoundTripProperty(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, layout := range []string{"full", "visible:1", "visible:3", schemas.LayoutFrames} {
		for seed := uint64(1); seed <= 12; seed++ {
			p := schematest.Provenance(layout, 1+int(seed%4), 8+int(seed%3)*8, 1+int(seed%3), 4+int(seed%5)*4, 3+int(seed%7))
			switch seed % 3 {
			case 0:
				p.SchemaVersion = 1
			case 1:
				p = schematest.WithText(p, 2+int(seed%6))
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("%s seed %d: %v", layout, seed, err)
			}
			var rows []schemas.ClipRow
			for i := uint64(0); i < 1+seed%5; i++ {
				rows = append(rows, schematest.Row(p, seed*100+i))
			}
			got := roundTrip(t, mem, p, rows)
			if !reflect.DeepEqual(got, rows) {
				t.Fatalf("%s seed %d (version %d, text %v): rows differ after round trip", layout, seed, p.SchemaVersion, p.Text != nil)
			}
			if n := len(schemas.ClipSchema(p).Fields()); p.SchemaVersion == 1 && n != 9 && n != 14 {
				t.Fatalf("a version-1 schema has %d columns", n)
			}
		}
	}
}

func TestRowValidate(t *testing.T) {
	p := schematest.Provenance("visible:2", 2, 8, 2, 16, 4)
	good := schematest.Row(p, 1)
	cases := []struct {
		name string
		mod  func(r *schemas.ClipRow)
	}{
		{"no clip id", func(r *schemas.ClipRow) { r.ClipID = "" }},
		{"reversed span", func(r *schemas.ClipRow) { r.SpanEndS = r.SpanStartS - 1 }},
		{"nan span", func(r *schemas.ClipRow) { r.SpanStartS = math.NaN() }},
		{"short frames", func(r *schemas.ClipRow) { r.Frames = r.Frames[1:] }},
		{"pts count", func(r *schemas.ClipRow) { r.FramePTS = r.FramePTS[:1] }},
		{"layers count", func(r *schemas.ClipRow) { r.TeacherLayers = append(r.TeacherLayers, 1) }},
		{"features count", func(r *schemas.ClipRow) { r.TeacherFeatures = r.TeacherFeatures[1:] }},
		{"attn count", func(r *schemas.ClipRow) { r.TeacherCLSAttn = nil }},
		{"masks count", func(r *schemas.ClipRow) { r.Masks = r.Masks[1:] }},
		{"tokens unsorted", func(r *schemas.ClipRow) {
			r.TeacherTokens[0], r.TeacherTokens[1] = r.TeacherTokens[1], r.TeacherTokens[0]
		}},
		{"token out of range", func(r *schemas.ClipRow) { r.TeacherTokens[len(r.TeacherTokens)-1] = 1 << 20 }},
		{"mask in wrong frame", func(r *schemas.ClipRow) { r.Masks[0] = int32(p.HW + 1) }},
		{"stored token no mask uses", func(r *schemas.ClipRow) {
			stored := map[int32]bool{}
			for _, x := range r.TeacherTokens {
				stored[x] = true
			}
			for g := int32(0); ; g++ {
				if !stored[g] {
					r.TeacherTokens = append(r.TeacherTokens, g)
					sort.Slice(r.TeacherTokens, func(i, j int) bool { return r.TeacherTokens[i] < r.TeacherTokens[j] })
					r.TeacherFeatures = append(r.TeacherFeatures, make([]uint16, p.K*p.D)...)
					return
				}
			}
		}},
	}
	if err := good.Validate(p); err != nil {
		t.Fatalf("generated row invalid: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good.Clone()
			c.mod(&r)
			if err := r.Validate(p); !errors.Is(err, schemas.ErrRow) {
				t.Fatalf("Validate = %v, want ErrRow", err)
			}
		})
	}
	full := schematest.Provenance("full", 2, 8, 2, 16, 4)
	r := schematest.Row(full, 2)
	r.TeacherTokens = r.TeacherTokens[1:]
	r.TeacherFeatures = r.TeacherFeatures[full.K*full.D:]
	if err := r.Validate(full); !errors.Is(err, schemas.ErrRow) {
		t.Fatalf("full layout missing a token: Validate = %v, want ErrRow", err)
	}
}

// TestVersion2RowValidate: frame counts within T, extra captions only after a caption, one
// token row of L ids in the vocabulary per caption with a mask of ones then zeros; none of it in
// a version-1 row.
func TestVersion2RowValidate(t *testing.T) {
	p := schematest.WithText(schematest.Provenance("full", 2, 8, 2, 16, 4), 6)
	var good schemas.ClipRow
	for seed := uint64(1); len(good.ExtraCaptions) == 0; seed++ {
		good = schematest.Row(p, seed)
	}
	if err := good.Validate(p); err != nil {
		t.Fatalf("generated row invalid: %v", err)
	}
	L := p.Text.MaxLen
	for _, c := range []struct {
		name string
		mod  func(r *schemas.ClipRow)
	}{
		{"padded > T", func(r *schemas.ClipRow) { r.PaddedFrames = 3 }},
		{"negative damaged", func(r *schemas.ClipRow) { r.DamagedFrames = -1 }},
		{"extra without caption", func(r *schemas.ClipRow) { r.Caption = "" }},
		{"empty extra caption", func(r *schemas.ClipRow) { r.ExtraCaptions[0] = "" }},
		{"one token row short", func(r *schemas.ClipRow) { r.CaptionIDs, r.CaptionMask = r.CaptionIDs[L:], r.CaptionMask[L:] }},
		{"id out of vocab", func(r *schemas.ClipRow) { r.CaptionIDs[0] = int32(p.Text.VocabSize) }},
		{"mask starts with 0", func(r *schemas.ClipRow) { r.CaptionMask[L] = 0 }},
		{"mask hole", func(r *schemas.ClipRow) {
			r.CaptionMask[L-1], r.CaptionMask[L-2] = 1, 0
		}},
		{"mask value 2", func(r *schemas.ClipRow) { r.CaptionMask[0] = 2 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good.Clone()
			c.mod(&r)
			if err := r.Validate(p); !errors.Is(err, schemas.ErrRow) {
				t.Fatalf("Validate = %v, want ErrRow", err)
			}
		})
	}
	noText := p
	noText.Text = nil
	if err := good.Validate(noText); !errors.Is(err, schemas.ErrRow) {
		t.Fatalf("caption tokens in a dataset without a tokenizer: Validate = %v", err)
	}
	v1 := noText
	v1.SchemaVersion = 1
	r := good.Clone()
	r.CaptionIDs, r.CaptionMask = nil, nil
	if err := r.Validate(v1); !errors.Is(err, schemas.ErrRow) {
		t.Fatalf("frame counts and extra captions in a version-1 row: Validate = %v", err)
	}
}

func TestProvenanceValidate(t *testing.T) {
	ok := schematest.ViTB16("visible:4")
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(p *schemas.Provenance){
		"layout":         func(p *schemas.Provenance) { p.Layout = "some" },
		"layout M zero":  func(p *schemas.Provenance) { p.Layout = "visible:0" },
		"precision":      func(p *schemas.Provenance) { p.Precision = "f8" },
		"no teacher":     func(p *schemas.Provenance) { p.Teacher = "" },
		"zero frames":    func(p *schemas.Provenance) { p.Frames = 0 },
		"masks mismatch": func(p *schemas.Provenance) { p.Masks = 3 },
		"ratio":          func(p *schemas.Provenance) { p.MaskRatio = 1 },
		"version":        func(p *schemas.Provenance) { p.SchemaVersion = schemas.ClipSchemaVersion + 1 },
		"v1 with tokens": func(p *schemas.Provenance) {
			p.SchemaVersion = 1
			p.Text = &schemas.TextProvenance{Tokenizer: "v", VocabSHA256: strings.Repeat("0", 64), VocabSize: 100, MaxLen: 8}
		},
		"short max_len": func(p *schemas.Provenance) {
			p.Text = &schemas.TextProvenance{Tokenizer: "v", VocabSHA256: strings.Repeat("0", 64), VocabSize: 100, MaxLen: 1}
		},
		"too many values": func(p *schemas.Provenance) { p.D = 65536; p.HW = 65536 },
	}
	for name, mod := range cases {
		p := ok
		mod(&p)
		if err := p.Validate(); !errors.Is(err, schemas.ErrSchema) {
			t.Errorf("%s: Validate = %v, want ErrSchema", name, err)
		}
	}
}

func TestCheckClipSchemaRejects(t *testing.T) {
	p := schematest.ViTB16("full")
	sc := schemas.ClipSchema(p)
	if _, err := schemas.CheckClipSchema(sc); err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.CheckClipSchema(schemas.FailureSchema()); !errors.Is(err, schemas.ErrSchema) {
		t.Fatalf("failures schema accepted as clip schema: %v", err)
	}
	md := sc.Metadata()
	vals := append([]string(nil), md.Values()...)
	for _, v := range []string{strconv.Itoa(schemas.ClipSchemaVersion + 1), "1", "0", "x"} { // "1": the provenance says 2
		vals[md.FindKey(schemas.MetaSchemaVersion)] = v
		if _, err := schemas.ProvenanceFromSchema(withMeta(sc, md.Keys(), vals)); !errors.Is(err, schemas.ErrSchema) {
			t.Fatalf("schema version %s accepted: %v", v, err)
		}
	}
}

// A frames-only dataset (the first phase of a two-phase prep) has the non-teacher columns
// under umt.schema "frames"; its provenance carries no teacher, and rows with teacher values,
// clip readers of the wrong kind and mixed-up metadata are all rejected.
func TestFramesOnlyLayout(t *testing.T) {
	full := schematest.Provenance("visible:1", 2, 16, 2, 4, 8)
	p := schematest.FramesOnly(full)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.HasTeacher() || p.Kind() != "frames" || !full.HasTeacher() || full.Kind() != "clip" {
		t.Fatalf("HasTeacher/Kind: frames %v %q, visible %v %q", p.HasTeacher(), p.Kind(), full.HasTeacher(), full.Kind())
	}
	sc := schemas.ClipSchema(p)
	if got := len(sc.Fields()); got != 12 || sc.Field(8).Name != schemas.ColFrames || sc.Field(9).Name != schemas.ColPaddedFrames {
		t.Fatalf("frames schema has %d columns, %s after frames, want 12 with padded_frames after frames", got, sc.Field(9).Name)
	}
	md := sc.Metadata()
	if v := md.Values()[md.FindKey(schemas.MetaSchema)]; v != "frames" {
		t.Fatalf("umt.schema = %q, want frames", v)
	}
	// Every teacher field must be empty in a frames provenance.
	for name, mod := range map[string]func(p *schemas.Provenance){
		"teacher":    func(p *schemas.Provenance) { p.Teacher = "x" },
		"precision":  func(p *schemas.Provenance) { p.Precision = schemas.PrecisionF16 },
		"K":          func(p *schemas.Provenance) { p.K = 1 },
		"HW":         func(p *schemas.Provenance) { p.HW = 4 },
		"mask ratio": func(p *schemas.Provenance) { p.MaskRatio = 0.8 },
		"no frames":  func(p *schemas.Provenance) { p.Frames = 0 },
	} {
		q := p
		mod(&q)
		if err := q.Validate(); !errors.Is(err, schemas.ErrSchema) {
			t.Errorf("frames provenance with %s set: Validate = %v, want ErrSchema", name, err)
		}
	}
	// A row carrying teacher values does not fit a frames dataset.
	r := schematest.Row(p, 3)
	if err := r.Validate(p); err != nil {
		t.Fatal(err)
	}
	bad := schematest.Row(full, 3)
	if err := bad.Validate(p); !errors.Is(err, schemas.ErrRow) {
		t.Fatalf("teacher row in frames dataset: Validate = %v, want ErrRow", err)
	}
	// Metadata kind and layout must agree both ways.
	for _, c := range []struct {
		prov schemas.Provenance
		kind string
	}{{p, "clip"}, {full, "frames"}} {
		sc := schemas.ClipSchema(c.prov)
		md := sc.Metadata()
		vals := append([]string(nil), md.Values()...)
		vals[md.FindKey(schemas.MetaSchema)] = c.kind
		if _, err := schemas.ProvenanceFromSchema(withMeta(sc, md.Keys(), vals)); !errors.Is(err, schemas.ErrSchema) {
			t.Errorf("layout %s under umt.schema %q accepted: %v", c.prov.Layout, c.kind, err)
		}
	}
	// A clip batch of one layout does not read a record of the other.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec, err := schemas.NewClipRecord(mem, p, []schemas.ClipRow{r})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	if _, err := schemas.NewClipBatch(full, rec); !errors.Is(err, schemas.ErrSchema) {
		t.Fatalf("frames record read as a visible:1 batch: %v", err)
	}
}

// Golden: clip ids must never change for the same inputs (datasets are resumed by them).
func TestClipIDGolden(t *testing.T) {
	got := schemas.ClipID("gs://b/v.mp4", 1.5, 9.25, "tsn:8")
	const want = "6316e5f635e16e5724493c114fe92c39"
	if got != want {
		t.Fatalf("ClipID = %s, want %s", got, want)
	}
	if len(got) != 32 {
		t.Fatalf("ClipID length %d, want 32", len(got))
	}
	for _, other := range []string{
		schemas.ClipID("gs://b/v.mp4", 1.5, 9.26, "tsn:8"),
		schemas.ClipID("gs://b/v.mp4", 1.5, 9.25, "tsn:16"),
		schemas.ClipID("gs://b/w.mp4", 1.5, 9.25, "tsn:8"),
		schemas.ClipID("gs://b/v.mp4\x001.5", 9.25, 0, "tsn:8"),
	} {
		if other == got {
			t.Fatalf("different inputs gave the same id %s", got)
		}
	}
}

// F16 conversion must round to nearest-even and decode subnormals (Arrow's own does neither).
func TestF16Conversion(t *testing.T) {
	for b := 0; b < 1<<16; b++ {
		f := schemas.Float32s(nil, []uint16{uint16(b)})[0]
		if math.IsNaN(float64(f)) {
			continue
		}
		if back := schemas.F16Bits(nil, []float32{f})[0]; back != uint16(b) {
			t.Fatalf("bits %#04x → %v → %#04x", b, f, back)
		}
	}
	if got := schemas.Float32s(nil, []uint16{1})[0]; got != float32(math.Ldexp(1, -24)) {
		t.Fatalf("smallest subnormal decodes to %v, want 2^-24", got)
	}
	// 1 + 2^-11 is exactly halfway between 1 and the next float16: ties go to even (1.0).
	if got := schemas.F16Bits(nil, []float32{1 + 1.0/2048})[0]; got != float16.Fromfloat32(1).Bits() {
		t.Fatalf("tie rounded to %#04x, want 1.0", got)
	}
	// 1 + 3·2^-12 rounds up (nearest), where truncation would give 1.0.
	if got := schemas.F16Bits(nil, []float32{1 + 3.0/4096})[0]; got != 0x3c01 {
		t.Fatalf("1+3·2^-12 → %#04x, want 0x3c01", got)
	}
}

func TestFailureRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := []schemas.FailureRow{
		{URI: "gs://b/bad.mp4", ErrorClass: "truncated", Message: "moov atom not found", Stage: "decode", Attempt: 1},
		{URI: "/x/y.webm", ClipID: "abc", SpanStartS: 1, SpanEndS: 2, ErrorClass: "timeout", Message: "", Stage: "teacher", Attempt: 3},
	}
	rec, err := schemas.NewFailureRecord(mem, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	got, err := schemas.FailureRowsFrom(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("got %+v\nwant %+v", got, rows)
	}
	for _, bad := range []schemas.FailureRow{
		{URI: "x"},
		{URI: "x", ErrorClass: "unsupported_codec", Stage: schemas.StageDecode}, // a class nothing emits
		{URI: "x", ErrorClass: schemas.ClassCorrupt, Stage: "demux"},            // a stage no run has
		{ErrorClass: schemas.ClassCorrupt, Stage: schemas.StageDecode},
	} {
		if _, err := schemas.NewFailureRecord(mem, []schemas.FailureRow{bad}); !errors.Is(err, schemas.ErrRow) {
			t.Fatalf("row %+v accepted: %v", bad, err)
		}
	}
}

// TestEveryFailureClassAndStageIsDocumented: docs/DATASET.md names each class and stage a
// failures table can hold, so a user reading a table can look any of them up.
func TestEveryFailureClassAndStageIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/DATASET.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range schemas.FailureClasses() {
		if !c.Known() || seen[string(c)] {
			t.Errorf("class %q listed twice or not known", c)
		}
		seen[string(c)] = true
		if !strings.Contains(string(doc), "| `"+string(c)+"` |") {
			t.Errorf("docs/DATASET.md has no row for failure class %q", c)
		}
	}
	for _, s := range schemas.Stages() {
		if !s.Known() || !strings.Contains(string(doc), "`"+string(s)+"`") {
			t.Errorf("stage %q unknown or not in docs/DATASET.md", s)
		}
	}
}

// TestEmbeddingRoundTrip: rows of every column combination and dtype come back from a record
// batch as written (float16 as the float32 value rounded to nearest even), and rows that do not
// fit the schema are refused with ErrRow.
func TestEmbeddingRoundTrip(t *testing.T) {
	rows := []schemas.EmbeddingRow{
		{ClipID: "a", SourceURI: "u", SpanStartS: 0, SpanEndS: 1, Embedding: []float32{1, 0, 0},
			FrameEmbeddings: []float32{1, 0, 0, 0.1, 0.2, 0.3}},
		{ClipID: "b", SourceURI: "v", Caption: "a cat", SpanStartS: 2, SpanEndS: 3, Embedding: []float32{0, 0.6, 0.8},
			FrameEmbeddings: []float32{0, 0.6, 0.8, 1.0 / 3, -5.716e-05, 65519}, TextEmbedding: []float32{0.5, -5.716e-05, 1e-8, 3e-7, 2, 1}},
	}
	for _, tc := range []struct {
		name string
		info schemas.EmbeddingInfo
	}{
		{"embedding only", schemas.EmbeddingInfo{Model: "m", Space: "video", Dim: 3}},
		{"frames and text float32", schemas.EmbeddingInfo{Model: "m", Space: "video", Dim: 3, Frames: 2, Text: true}},
		{"frames and text float16", schemas.EmbeddingInfo{Model: "m", Space: "video", Dim: 3, Frames: 2, Text: true, DType: schemas.DTypeFloat16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			want := make([]schemas.EmbeddingRow, len(rows))
			round := func(v []float32) []float32 {
				if v == nil || tc.info.DType != schemas.DTypeFloat16 {
					return v
				}
				return schemas.Float32s(nil, schemas.F16Bits(nil, v))
			}
			in := slices.Clone(rows)
			for i := range rows {
				if tc.info.Frames == 0 {
					in[i].FrameEmbeddings = nil
				}
				if !tc.info.Text {
					in[i].TextEmbedding = nil
				}
				want[i] = in[i]
				want[i].Embedding, want[i].FrameEmbeddings, want[i].TextEmbedding = round(in[i].Embedding), round(in[i].FrameEmbeddings), round(in[i].TextEmbedding)
			}
			rec, err := schemas.NewEmbeddingRecord(mem, tc.info.Schema(), in)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			got, err := schemas.EmbeddingRowsFrom(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
			for _, bad := range []schemas.EmbeddingRow{{Embedding: []float32{1}}, {Embedding: []float32{1, 2, 3}, FrameEmbeddings: []float32{1}}, {Embedding: []float32{1, 2, 3}, TextEmbedding: []float32{1}}} {
				if _, err := schemas.NewEmbeddingRecord(mem, tc.info.Schema(), []schemas.EmbeddingRow{bad}); !errors.Is(err, schemas.ErrRow) {
					t.Errorf("row %+v accepted: %v", bad, err)
				}
			}
		})
	}
}

// TestEmbeddingVersion1Readable: a version-1 table (six columns, float32 embedding, no
// optional columns) still decodes.
func TestEmbeddingVersion1Readable(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	md := arrow.NewMetadata([]string{schemas.MetaSchema, schemas.MetaSchemaVersion, schemas.MetaModel}, []string{"embeddings", "1", "m"})
	sc := arrow.NewSchema([]arrow.Field{
		{Name: schemas.ColClipID, Type: arrow.BinaryTypes.String}, {Name: schemas.ColSourceURI, Type: arrow.BinaryTypes.String},
		{Name: schemas.ColSpanStartS, Type: arrow.PrimitiveTypes.Float64}, {Name: schemas.ColSpanEndS, Type: arrow.PrimitiveTypes.Float64},
		{Name: schemas.ColCaption, Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "embedding", Type: arrow.FixedSizeListOfNonNullable(2, arrow.PrimitiveTypes.Float32)},
	}, &md)
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("a")
	b.Field(1).(*array.StringBuilder).Append("u")
	b.Field(2).(*array.Float64Builder).Append(1)
	b.Field(3).(*array.Float64Builder).Append(2)
	b.Field(4).AppendNull()
	b.Field(5).(*array.FixedSizeListBuilder).Append(true)
	b.Field(5).(*array.FixedSizeListBuilder).ValueBuilder().(*array.Float32Builder).AppendValues([]float32{0.6, 0.8}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	got, err := schemas.EmbeddingRowsFrom(rec)
	want := []schemas.EmbeddingRow{{ClipID: "a", SourceURI: "u", SpanStartS: 1, SpanEndS: 2, Embedding: []float32{0.6, 0.8}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("version-1 table: %+v, %v; want %+v", got, err, want)
	}
}

// FuzzProvenance: layout strings and provenance JSON in schema metadata parse or fail with
// ErrSchema, never panic; whatever parses validates and round-trips through ClipSchema.
func FuzzProvenance(f *testing.F) {
	f.Add("full", []byte(`{"schema_version":1,"teacher":"t","layout":"full","precision":"f16","frames":8,"size":224,"teacher_layers":6,"teacher_hw":196,"teacher_dim":512}`))
	f.Add("visible:4", []byte(`{"schema_version":1,"teacher":"t","layout":"visible:4","precision":"f16","mask_ratio":0.8,"masks":4,"frames":1,"size":1,"teacher_layers":1,"teacher_hw":1,"teacher_dim":1}`))
	f.Add("visible:-1", []byte(`{"frames":1e99}`))
	f.Fuzz(func(t *testing.T, layout string, js []byte) {
		if l, err := schemas.ParseLayout(layout); err == nil && l.String() != layout {
			t.Fatalf("layout %q parsed as %q", layout, l)
		} else if err != nil && !errors.Is(err, schemas.ErrSchema) {
			t.Fatalf("unclassified error %v", err)
		}
		md := withMeta(schemas.FailureSchema(), []string{schemas.MetaSchema, schemas.MetaSchemaVersion, schemas.MetaProvenance}, []string{"clip", "1", string(js)})
		p, err := schemas.ProvenanceFromSchema(md)
		if err != nil {
			if !errors.Is(err, schemas.ErrSchema) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		got, err := schemas.CheckClipSchema(schemas.ClipSchema(p))
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("valid provenance does not round-trip: %v", err)
		}
	})
}
