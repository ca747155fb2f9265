package stage1

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/masks"
)

// memSource serves rows from memory (the loader's Source).
type memSource []schemas.ClipRow

func (m memSource) Len() int { return len(m) }
func (m memSource) Row(_ context.Context, i int) (schemas.ClipRow, error) {
	if i < 0 || i >= len(m) {
		return schemas.ClipRow{}, fmt.Errorf("row %d out of range", i)
	}
	return m[i], nil
}

func tinyProv(layout string, nMasks int) schemas.Provenance {
	return schemas.Provenance{SchemaVersion: schemas.ClipSchemaVersion, UMTVersion: "test", Teacher: "tiny", TeacherSHA256: "00",
		Resolution: 64, Normalisation: "imagenet", Sampler: "test", Layout: layout, Precision: schemas.PrecisionF16,
		MaskRatio: 0.8, Masks: nMasks, Frames: 4, Size: 64, K: 2, HW: 16, D: 32}
}

// refRows turns the reference set's teacher run (2 clips of real tiny-CLIP targets and
// attention) into full-layout rows.
func refRows(t testing.TB) (schemas.Provenance, []schemas.ClipRow, map[string]vit.Tensor) {
	t.Helper()
	dir := testenv.RefData(t)
	io, _, err := vit.ReadSafetensors(filepath.Join(dir, "teacher_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	raw, feat, attn := io["raw_frames_u8"], io["teacher.features"], io["teacher.attn_cls"]
	B, T, S := raw.Shape[0], raw.Shape[1], raw.Shape[2]
	K, N, D := feat.Shape[0], feat.Shape[2], feat.Shape[3]
	p := tinyProv("full", 0)
	p.Frames, p.Size, p.K, p.HW, p.D = T, S, K, N/T, D
	var rows []schemas.ClipRow
	for b := 0; b < B; b++ {
		r := schemas.ClipRow{SourceURI: fmt.Sprintf("ref://%d", b), SpanEndS: 1,
			FramePTS: make([]int64, T), FrameTimeS: make([]float64, T),
			Frames: raw.U8[b*T*S*S*3 : (b+1)*T*S*S*3]}
		r.ClipID = schemas.ClipID(r.SourceURI, 0, 1, "ref")
		for k := 0; k < K; k++ {
			r.TeacherLayers = append(r.TeacherLayers, int32(k))
			r.TeacherFeatures = schemas.F16Bits(r.TeacherFeatures, feat.F32[(k*B+b)*N*D:(k*B+b+1)*N*D])
		}
		for n := 0; n < N; n++ {
			r.TeacherTokens = append(r.TeacherTokens, int32(n))
		}
		r.TeacherCLSAttn = schemas.F16Bits(nil, attn.F32[b*T*p.HW:(b+1)*T*p.HW])
		if err := r.Validate(p); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return p, rows, io
}

// synthRows makes n clips of random frames, unit teacher features and positive attention in
// the tiny shapes, with a visible:M layout when nMasks > 0.
func synthRows(t testing.TB, n, nMasks int, seed uint64) (schemas.Provenance, []schemas.ClipRow) {
	t.Helper()
	layout := "full"
	if nMasks > 0 {
		layout = fmt.Sprintf("visible:%d", nMasks)
	}
	p := tinyProv(layout, nMasks)
	s := masks.NewStream(seed, "synth", 0, 0)
	T, HW, N := p.Frames, p.HW, p.Frames*p.HW
	var rows []schemas.ClipRow
	for i := 0; i < n; i++ {
		r := schemas.ClipRow{SourceURI: fmt.Sprintf("synth://%d", i), SpanEndS: 1, FramePTS: make([]int64, T), FrameTimeS: make([]float64, T)}
		r.ClipID = schemas.ClipID(r.SourceURI, 0, 1, "synth")
		r.Frames = make([]byte, p.FrameBytes())
		for j := range r.Frames {
			r.Frames[j] = byte(s.Uint64())
		}
		attn := make([]float32, N)
		for j := range attn {
			attn[j] = 0.01 + float32(s.Uint64()%1000)/1e4
		}
		r.TeacherCLSAttn = schemas.F16Bits(nil, attn)
		tokens := make([]int, 0, N)
		if nMasks > 0 {
			var draws [][][]int
			for m := 0; m < nMasks; m++ {
				v, err := masks.Sample(attn, T, HW, p.MaskRatio, masks.NewStream(seed, r.ClipID, -1, m))
				if err != nil {
					t.Fatal(err)
				}
				draws = append(draws, v)
				for _, tok := range masks.TokenIndex(v, HW) {
					r.Masks = append(r.Masks, int32(tok))
				}
			}
			tokens = masks.TokenIndex(masks.Union(draws...), HW)
		} else {
			for j := 0; j < N; j++ {
				tokens = append(tokens, j)
			}
		}
		for _, tok := range tokens {
			r.TeacherTokens = append(r.TeacherTokens, int32(tok))
		}
		for k := 0; k < p.K; k++ {
			r.TeacherLayers = append(r.TeacherLayers, int32(k))
			for range tokens {
				v := make([]float32, p.D)
				var ss float64
				for d := range v {
					v[d] = float32(int64(s.Uint64()%2001)-1000) / 1000
					ss += float64(v[d]) * float64(v[d])
				}
				for d := range v {
					v[d] /= float32(math.Sqrt(ss))
				}
				r.TeacherFeatures = schemas.F16Bits(r.TeacherFeatures, v)
			}
		}
		if err := r.Validate(p); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return p, rows
}

func tinyConfig(t testing.TB) Config {
	t.Helper()
	c, err := LoadConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
