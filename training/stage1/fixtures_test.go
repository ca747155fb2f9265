package stage1

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights/weightstest"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/masks"
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

// refRows turns the reference set's teacher run (its B clips of real tiny-CLIP targets and
// attention) into full-layout rows, with every size from the set's manifest.
func refRows(t testing.TB) (schemas.Provenance, []schemas.ClipRow, map[string]weightstest.Tensor) {
	t.Helper()
	dir := testenv.RefData(t)
	m := testenv.RefStage1(t)
	io, err := weightstest.Read(filepath.Join(dir, "teacher_tiny_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	B, T, S, HW := m.B, m.T, m.Img, m.HW()
	K, N, D := m.Teacher.ReturnLayers, m.T*m.HW(), m.Teacher.OutputDim
	raw := refShape(t, io, "raw_frames_u8", B, T, S, S, 3)
	feat := refShape(t, io, "teacher.features", K, B, N, D)
	attn := refShape(t, io, "teacher.attn_cls", B*T, HW)
	p := tinyProv("full", 0)
	p.Frames, p.Size, p.K, p.HW, p.D, p.Resolution, p.MaskRatio = T, S, K, HW, D, S, m.MaskRatio
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
		r.TeacherCLSAttn = schemas.F16Bits(nil, attn.F32[b*T*HW:(b+1)*T*HW])
		if err := r.Validate(p); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return p, rows, io
}

// refShape returns a reference tensor after checking it has the shape the set's manifest
// implies, so a set with other sizes fails with the reason instead of an index out of range.
func refShape(t testing.TB, m map[string]weightstest.Tensor, name string, dims ...int) weightstest.Tensor {
	t.Helper()
	x, ok := m[name]
	if !ok {
		t.Fatalf("reference set has no tensor %s", name)
	}
	if !slices.Equal(x.Shape, dims) {
		t.Fatalf("reference tensor %s has shape %v; its manifest implies %v", name, x.Shape, dims)
	}
	return x
}

// refConfig is the tiny preset with the student and the masking of the reference set: every
// stage-1 option of its manifest, or a failure naming the one this code cannot reproduce.
func refConfig(t testing.TB) Config {
	t.Helper()
	m := testenv.RefStage1(t)
	if err := m.Supported(); err != nil {
		t.Fatal(err)
	}
	c := tinyConfig(t)
	c.Model = vit.Config{ImgSize: m.Img, Patch: m.Patch, Frames: m.T, Tubelet: m.Student.Tubelet, Dim: m.Student.Dim,
		Depth: m.Student.Depth, Heads: m.Student.Heads, MLPRatio: int(m.MLPRatio()), ClipDim: m.Teacher.OutputDim,
		ReturnLayers: m.Student.ReturnLayers, ReturnInterval: m.Student.ReturnInterval, DropPath: m.DropPath()}
	c.MaskRatio = m.MaskRatio
	if err := c.Validate(); err != nil {
		t.Fatalf("reference set %s: %v", testenv.RefData(t), err)
	}
	return c
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
