// Package schematest makes valid random clip rows and provenances for tests of code that writes
// or reads clip shards (shard writer and reader, loader, pipelines). Rows are fully determined
// by the seed, so property tests can report a failing seed.
package schematest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/umt-dev/umt/schemas"
)

// Provenance returns a small valid provenance: T frames of S×S, K layers, HW tokens per frame
// of D dims, in the given layout ("full", "visible:M", or "frames", which drops K, HW and D).
func Provenance(layout string, T, S, K, HW, D int) schemas.Provenance {
	p := schemas.Provenance{
		UMTVersion: "test", Teacher: "test/tiny-clip", TeacherSHA256: fmt.Sprintf("%064x", 1),
		Resolution: S, Normalisation: "imagenet", Sampler: "tsn:8", Seed: 7,
		Layout: layout, Precision: schemas.PrecisionF16, MaskRatio: 0.8,
		Frames: T, Size: S, K: K, HW: HW, D: D,
	}
	if l, err := schemas.ParseLayout(layout); err == nil && l.Visible {
		p.Masks = l.M
	}
	if layout == schemas.LayoutFrames {
		p = FramesOnly(p)
	}
	return p
}

// FramesOnly returns p as the provenance of a frames-only dataset (layout "frames"): the same
// sampling, every teacher field cleared.
func FramesOnly(p schemas.Provenance) schemas.Provenance {
	p.Layout = schemas.LayoutFrames
	p.Teacher, p.TeacherSHA256, p.Resolution, p.Normalisation, p.Precision = "", "", 0, "", ""
	p.K, p.HW, p.D, p.Masks, p.MaskRatio = 0, 0, 0, 0, 0
	return p
}

// ViTB16 is the provenance of the reference configuration: ViT-B/16 teacher at 224, 8 frames,
// 6 returned layers of 512 dims over 196 tokens per frame.
func ViTB16(layout string) schemas.Provenance {
	p := Provenance(layout, 8, 224, 6, 196, 512)
	p.Teacher = "openai/clip-vit-base-patch16"
	return p
}

// Row returns a valid random row for p, determined by seed. Masks are drawn per frame as random
// V-subsets (uniform, not attention-weighted: the format does not care how they were drawn).
func Row(p schemas.Provenance, seed uint64) schemas.ClipRow {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	uri := fmt.Sprintf("gs://corpus/v%05d.mp4", rng.IntN(100000))
	start := math.Round(rng.Float64()*6000) / 100
	end := start + 1 + math.Round(rng.Float64()*900)/100
	r := schemas.ClipRow{
		ClipID:     schemas.ClipID(uri, start, end, p.Sampler),
		SourceURI:  uri,
		SpanStartS: start,
		SpanEndS:   end,
	}
	if rng.IntN(3) > 0 {
		r.Caption = fmt.Sprintf("caption %d — ünïcode", rng.IntN(1000))
	}
	if rng.IntN(2) > 0 {
		r.Label = fmt.Sprint(rng.IntN(710))
	}
	T, HW := p.Frames, p.HW
	for t := 0; t < T; t++ {
		r.FramePTS = append(r.FramePTS, int64(t*512+rng.IntN(100)))
		r.FrameTimeS = append(r.FrameTimeS, start+float64(t)*(end-start)/float64(T))
	}
	r.Frames = make([]byte, p.FrameBytes())
	fill(rng, r.Frames)
	for k := 0; k < p.K; k++ {
		r.TeacherLayers = append(r.TeacherLayers, int32(k+6))
	}
	l, _ := schemas.ParseLayout(p.Layout)
	V := p.VisiblePerFrame()
	used := map[int32]bool{}
	for m := 0; m < p.Masks; m++ {
		for t := 0; t < T; t++ {
			idx := rng.Perm(HW)[:V]
			sort.Ints(idx)
			for _, x := range idx {
				g := int32(t*HW + x)
				r.Masks = append(r.Masks, g)
				used[g] = true
			}
		}
	}
	if l.Visible {
		for g := range used {
			r.TeacherTokens = append(r.TeacherTokens, g)
		}
		sort.Slice(r.TeacherTokens, func(i, j int) bool { return r.TeacherTokens[i] < r.TeacherTokens[j] })
	} else {
		for g := 0; g < T*HW; g++ {
			r.TeacherTokens = append(r.TeacherTokens, int32(g))
		}
	}
	feats := make([]float32, p.K*len(r.TeacherTokens)*p.D)
	for i := range feats {
		feats[i] = float32(rng.NormFloat64() * 0.044)
	}
	r.TeacherFeatures = schemas.F16Bits(nil, feats)
	attn := make([]float32, T*HW)
	for i := range attn {
		attn[i] = rng.Float32() / float32(HW)
	}
	r.TeacherCLSAttn = schemas.F16Bits(nil, attn)
	if !p.HasTeacher() {
		r.TeacherLayers, r.TeacherTokens, r.TeacherFeatures, r.TeacherCLSAttn = nil, nil, nil, nil
	}
	if p.SchemaVersion != 1 {
		version2(p, &r, rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)))
	}
	return r
}

// WithText returns p with a tokenizer of a vocabulary of 1000 ids and captions of maxLen ids.
func WithText(p schemas.Provenance, maxLen int) schemas.Provenance {
	p.Text = &schemas.TextProvenance{Tokenizer: "test/vocab.txt", VocabSHA256: fmt.Sprintf("%064x", 2), VocabSize: 1000, MaxLen: maxLen, PreText: true}
	return p
}

// version2 fills the fields schema version 2 added, from its own stream so that the version-1
// fields of a seed stay what they were.
func version2(p schemas.Provenance, r *schemas.ClipRow, rng *rand.Rand) {
	r.PaddedFrames = int32(rng.IntN(p.Frames + 1))
	r.DamagedFrames = int32(rng.IntN(p.Frames + 1))
	if r.Caption != "" {
		for range rng.IntN(3) {
			r.ExtraCaptions = append(r.ExtraCaptions, fmt.Sprintf("another caption %d", rng.IntN(1000)))
		}
	}
	t := p.Text
	if t == nil {
		return
	}
	n := len(r.Captions())
	if n == 0 {
		return
	}
	r.CaptionIDs, r.CaptionMask = make([]int32, n*t.MaxLen), make([]uint8, n*t.MaxLen)
	for c := range n {
		real := 1 + rng.IntN(t.MaxLen)
		for j := range real {
			r.CaptionIDs[c*t.MaxLen+j] = int32(1 + rng.IntN(t.VocabSize-1))
			r.CaptionMask[c*t.MaxLen+j] = 1
		}
	}
}

// fill writes smooth, video-like bytes (compressible like real frames) with some noise.
func fill(rng *rand.Rand, b []byte) {
	base := byte(rng.IntN(256))
	for i := range b {
		b[i] = base + byte(i/3%64) + byte(rng.IntN(4))
	}
}
