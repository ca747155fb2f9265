package multimodal

import (
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/umt-dev/umt/models/vit"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

// TestEvalPathMatchesReference: the unmasked test path of the reference retrieval run: every
// token after the final norm, pool_norm of the per-frame means (keep_temporal), both
// projections, the text features, and the ITC score matrix at temp 1 with its top-k order.
func TestEvalPathMatchesReference(t *testing.T) {
	r := loadRefModel(t)
	ret, err := weightstest.Read(filepath.Join(r.dir, "stage2_retrieval.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	io := refIO{kind: "retrieval", io: ret}
	c := r.cfg
	vc, D, E, H := c.Vision, c.Vision.Dim, c.EmbedDim, c.Text.Hidden
	px := io.get(t, "ret.pixel_values")
	if len(px.Shape) != 5 || px.Shape[2] != 3 || px.Shape[3] != vc.ImgSize || px.Shape[4] != vc.ImgSize || px.Shape[1] != vc.Frames {
		t.Fatalf("ret.pixel_values has shape %v, want [Nv, %d, 3, %d, %d]", px.Shape, vc.Frames, vc.ImgSize, vc.ImgSize)
	}
	Nv, T, S := px.Shape[0], px.Shape[1], vc.ImgSize
	N := vc.Tokens()
	all := make([]int32, N)
	for i := range all {
		all[i] = int32(i)
	}
	b := vit.Batch{B: Nv, Frames: T, KeepTemporal: true}
	for v := 0; v < Nv; v++ {
		clip := make([]float32, 3*T*S*S)
		for f := 0; f < T; f++ {
			for ch := 0; ch < 3; ch++ {
				copy(clip[(ch*T+f)*S*S:(ch*T+f+1)*S*S], px.F32[((v*T+f)*3+ch)*S*S:((v*T+f)*3+ch+1)*S*S])
			}
		}
		p, err := vit.PatchifyFrames(vc, clip, T, all)
		if err != nil {
			t.Fatal(err)
		}
		b.Patches, b.Tokens = append(b.Patches, p...), append(b.Tokens, all...)
	}
	m := newRefModel(t, r)
	ve, err := m.EmbedVision(b)
	if err != nil {
		t.Fatal(err)
	}
	checkAct(t, "ret.image_feats", widen(ve.Tokens), io.get(t, "ret.image_feats", Nv, 1, N, D).F32)
	checkAct(t, "ret.pooled_image_feats", widen(ve.Pooled), io.get(t, "ret.pooled_image_feats", Nv, T, D).F32)
	checkAct(t, "ret.vision_proj", widen(ve.Proj), io.get(t, "ret.vision_proj", Nv, T, E).F32)
	ids := io.get(t, "ret.text.input_ids")
	Nt, L := ids.Shape[0], ids.Shape[1]
	te, err := m.EmbedText(toI32(ids.I64), toI32(io.get(t, "ret.text.attention_mask", Nt, L).I64), Nt, L)
	if err != nil {
		t.Fatal(err)
	}
	checkAct(t, "ret.text_feats", widen(te.Tokens), io.get(t, "ret.text_feats", Nt, L, H).F32)
	checkAct(t, "ret.text_proj", widen(te.Proj), io.get(t, "ret.text_proj", Nt, E).F32)
	i2t, err := ITCScores(ve.Proj, Nv, T, te.Proj, Nt, E)
	if err != nil {
		t.Fatal(err)
	}
	checkAct(t, "ret.i2t_emb", i2t, io.get(t, "ret.i2t_emb", Nv, Nt).F32)
	topk := func(row []float64, k int) []int64 {
		idx := make([]int64, len(row))
		for i := range idx {
			idx[i] = int64(i)
		}
		sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
		return idx[:k]
	}
	want := io.get(t, "ret.i2t_topk_idx")
	k := want.Shape[1]
	var got []int64
	for v := 0; v < Nv; v++ {
		got = append(got, topk(i2t[v*Nt:(v+1)*Nt], k)...)
	}
	if !slices.Equal(got, want.I64) {
		t.Errorf("i2t top-%d %v, reference %v", k, got, want.I64)
	}
	got = got[:0]
	for tx := 0; tx < Nt; tx++ {
		col := make([]float64, Nv)
		for v := range col {
			col[v] = i2t[v*Nt+tx]
		}
		got = append(got, topk(col, k)...)
	}
	if w := io.get(t, "ret.t2i_topk_idx", Nt, k).I64; !slices.Equal(got, w) {
		t.Errorf("t2i top-%d %v, reference %v", k, got, w)
	}
}
