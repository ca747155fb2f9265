package stage2

import (
	"fmt"

	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/training/loader"
	"github.com/umt-dev/umt/training/stage1"
	"github.com/umt-dev/umt/transforms/masks"
)

// Data are stage 2's data options: the semantic-mask ratio by media (chosen by T == 1 as
// umt.py does: videos 0.8, images 0.5) and the seed of the mask and caption draws.
type Data struct {
	VideoMaskRatio float64 `json:"video_mask_ratio"`
	ImageMaskRatio float64 `json:"image_mask_ratio"`
	Seed           uint64  `json:"seed"`
}

// Recipe is the official stage-2 data setting.
var Recipe = Data{VideoMaskRatio: 0.8, ImageMaskRatio: 0.5, Seed: 42}

// MaskRatio is the ratio for clips of T frames.
func (d Data) MaskRatio(T int) float64 {
	if T == 1 {
		return d.ImageMaskRatio
	}
	return d.VideoMaskRatio
}

// CheckDataset reports whether a dataset fits the model and the data options: teacher
// features of the aligned width and layer count, frames the encoder takes (its T, or 1 for an
// image corpus), enough stored teacher tokens per frame for a mask at the media's ratio, and
// caption tokens from the text encoder's vocabulary.
func CheckDataset(m multimodal.Config, d Data, p schemas.Provenance) error {
	v := m.Vision
	if err := checkStoredTokens(d, p); err != nil {
		return err
	}
	switch {
	case !p.HasTeacher():
		return fmt.Errorf("stage2: the dataset holds frames only (layout %s); add the teacher's features with umt prep --phase=teacher", p.Layout)
	case p.Frames != v.Frames && p.Frames != 1:
		return fmt.Errorf("stage2: dataset has %d frames per clip; the vision encoder takes %d (or 1, an image corpus): --set vision.frames=%d", p.Frames, v.Frames, p.Frames)
	case p.Size != v.ImgSize || p.HW != v.HW():
		return fmt.Errorf("stage2: dataset frames are %d px with %d teacher tokens per frame; the encoder takes %d px, %d tokens: --set vision.img_size=%d (with a patch giving %d tokens)", p.Size, p.HW, v.ImgSize, v.HW(), p.Size, p.HW)
	case p.K != v.ReturnLayers || p.D != v.ClipDim:
		return fmt.Errorf("stage2: dataset stores %d teacher layers of %d dims; the encoder aligns %d of %d: --set vision.return_layers=%d --set vision.clip_dim=%d", p.K, p.D, v.ReturnLayers, v.ClipDim, p.K, p.D)
	case p.Text == nil:
		return fmt.Errorf("stage2: the dataset stores no caption tokens; prepare it with a tokenizer (umt prep --tokenizer hf:bert-base-uncased)")
	case p.Text.VocabSize != m.Text.Vocab:
		return fmt.Errorf("stage2: captions were tokenized with %s (%d ids), the text encoder has %d", p.Text.Tokenizer, p.Text.VocabSize, m.Text.Vocab)
	case p.Text.MaxLen > m.Text.MaxPosition:
		return fmt.Errorf("stage2: captions of %d tokens exceed the text encoder's %d positions", p.Text.MaxLen, m.Text.MaxPosition)
	}
	return nil
}

// checkStoredTokens refuses a visible:M dataset whose stored tokens cannot hold a mask at the
// ratio its media trains at. Prep stores the union of M masks drawn at its own ratio, which
// guarantees only HW − int(HW·ratio) tokens per frame (the masks follow the teacher's attention
// and overlap), so an image corpus prepared at the video ratio 0.8 would fail at its first
// batch under image_mask_ratio 0.5.
func checkStoredTokens(d Data, p schemas.Provenance) error {
	lay, err := schemas.ParseLayout(p.Layout)
	if err != nil || !lay.Visible {
		return err
	}
	media, key, ratio := "video", "video_mask_ratio", d.VideoMaskRatio
	if p.Frames == 1 {
		media, key, ratio = "image", "image_mask_ratio", d.ImageMaskRatio
	}
	stored, need := p.VisiblePerFrame(), masks.VisibleCount(p.HW, ratio)
	if stored >= need {
		return nil
	}
	return fmt.Errorf("stage2: the %s corpus stores teacher features for %d of %d tokens per frame (layout %s, prepared at mask ratio %v), "+
		"but %s %v keeps %d visible: prepare it again with umt prep --frames %d --mask-ratio %v (or --layout full), or train at its ratio with --set %s=%v",
		media, stored, p.HW, p.Layout, p.MaskRatio, key, ratio, need, p.Frames, ratio, key, p.MaskRatio)
}

// BuildBatch turns one loader batch of rows (all from one media type) into a training batch:
// per clip a semantic mask drawn from its stored teacher attention at the media's ratio
// (among the stored tokens for a visible layout), the normalised visible patches, the stored
// teacher features there, one of its captions drawn from the same stream, and idx = the row's
// dataset index (unique within a dataset, so the collision of UMT.md §9.6 cannot happen).
func BuildBatch(d Data, m multimodal.Config, p schemas.Provenance, rows []schemas.ClipRow, indices []int, epoch int) (multimodal.Batch, error) {
	B, T, hw, L := len(rows), p.Frames, p.HW, p.Text.MaxLen
	if B == 0 || len(indices) != B {
		return multimodal.Batch{}, fmt.Errorf("stage2: %d rows with %d indices", B, len(indices))
	}
	lay, err := schemas.ParseLayout(p.Layout)
	if err != nil {
		return multimodal.Batch{}, err
	}
	nVis := masks.VisibleCount(hw, d.MaskRatio(T))
	b := multimodal.Batch{Vision: vit.Batch{B: B, Frames: T}, L: L}
	K, D := p.K, p.D
	perClip := make([][]float32, 0, B)
	for i := range rows {
		r := &rows[i]
		s := masks.NewStream(d.Seed, r.ClipID, epoch, 0)
		attn := schemas.Float32s(nil, r.TeacherCLSAttn)
		var vis [][]int
		if lay.Visible {
			stored := make([][]int, T)
			for _, tok := range r.TeacherTokens {
				stored[int(tok)/hw] = append(stored[int(tok)/hw], int(tok)%hw)
			}
			vis, err = masks.SampleAmong(attn, stored, hw, nVis, s)
		} else {
			vis, err = masks.Sample(attn, T, hw, d.MaskRatio(T), s)
		}
		if err != nil {
			return b, fmt.Errorf("clip %s: %w", r.ClipID, err)
		}
		toks := masks.TokenIndex(vis, hw)
		t32 := make([]int32, len(toks))
		for j, t := range toks {
			t32[j] = int32(t)
		}
		b.Vision.Tokens = append(b.Vision.Tokens, t32...)
		b.Vision.Patches = append(b.Vision.Patches, vit.PatchesFromFrames(m.Vision, r.Frames, t32)...)
		tg, err := stage1.Targets(p, r, toks)
		if err != nil {
			return b, fmt.Errorf("clip %s: %w", r.ClipID, err)
		}
		perClip = append(perClip, tg)
		C := len(r.CaptionIDs) / L
		if C == 0 || len(r.CaptionIDs) != C*L || len(r.CaptionMask) != C*L {
			return b, fmt.Errorf("clip %s has %d caption ids and %d mask values, not C×%d", r.ClipID, len(r.CaptionIDs), len(r.CaptionMask), L)
		}
		c := int(s.Uint64() % uint64(C))
		b.IDs = append(b.IDs, r.CaptionIDs[c*L:(c+1)*L]...)
		for _, mv := range r.CaptionMask[c*L : (c+1)*L] {
			b.Mask = append(b.Mask, int32(mv))
		}
		b.Idx = append(b.Idx, int64(indices[i]))
	}
	nv := len(b.Vision.Tokens) / B
	b.Targets = make([]float32, K*B*nv*D)
	for i, tg := range perClip {
		for k := 0; k < K; k++ {
			copy(b.Targets[((k*B+i)*nv)*D:((k*B+i+1)*nv)*D], tg[k*nv*D:(k+1)*nv*D])
		}
	}
	return b, nil
}

// MetaOrder is the official MetaLoader's order of one epoch: loader i's index repeated by its
// number of batches, then shuffled, the same on every rank. The shuffle is the loaders'
// SplitMix64 Fisher–Yates keyed by (seed, epoch) rather than Python's random, so the order is
// reproducible and resumable but not Python's sequence.
func MetaOrder(batches []int, seed uint64, epoch int) []int {
	var list []int
	for i, n := range batches {
		for range n {
			list = append(list, i)
		}
	}
	perm := loader.Permutation(len(list), seed^0x510e527fade682d1, epoch)
	out := make([]int, len(list))
	for k, j := range perm {
		out[k] = list[j]
	}
	return out
}
