package multimodal

import (
	"encoding/json"
	"os"
	"path/filepath"
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
	t2i := make([]float64, Nt*Nv)
	for v := 0; v < Nv; v++ {
		for tx := 0; tx < Nt; tx++ {
			t2i[tx*Nv+v] = i2t[v*Nt+tx]
		}
	}
	want := io.get(t, "ret.i2t_topk_idx")
	k := want.Shape[1]
	var got []int
	for v := 0; v < Nv; v++ {
		got = append(got, TopK(i2t[v*Nt:(v+1)*Nt], k)...)
	}
	checkInts(t, "ret.i2t_topk_idx", got, want.I64)
	got = got[:0]
	for tx := 0; tx < Nt; tx++ {
		got = append(got, TopK(t2i[tx*Nv:(tx+1)*Nv], k)...)
	}
	checkInts(t, "ret.t2i_topk_idx", got, io.get(t, "ret.t2i_topk_idx", Nt, k).I64)

	// ITM re-ranking: compare the filled entries (absolute, the README's 8.3e-7 figure) and
	// the -100 fill exactly.
	itmI2T, itmT2I, err := m.ITMScores(ve.Tokens, N, te.Tokens, toI32(io.get(t, "ret.text_atts", Nt, L).I64), L, i2t, Nv, Nt, k)
	if err != nil {
		t.Fatal(err)
	}
	checkITM(t, "ret.i2t_itm", itmI2T, io.get(t, "ret.i2t_itm", Nv, Nt).F32)
	checkITM(t, "ret.t2i_itm", itmT2I, io.get(t, "ret.t2i_itm", Nt, Nv).F32)

	// itm_eval: ranks and metrics of both score kinds.
	txt2img := io.get(t, "ret.txt2img", Nt).I64
	img2txt := io.get(t, "ret.img2txt")
	gtV, gtT := make([][]int, Nv), make([][]int, Nt)
	for v := 0; v < Nv; v++ {
		for _, x := range img2txt.I64[v*img2txt.Shape[1] : (v+1)*img2txt.Shape[1]] {
			if x >= 0 {
				gtV[v] = append(gtV[v], int(x))
			}
		}
	}
	for tx := range gtT {
		gtT[tx] = []int{int(txt2img[tx])}
	}
	var side struct {
		Metrics map[string]map[string]float64 `json:"metrics"`
	}
	data, err := os.ReadFile(filepath.Join(r.dir, "stage2_retrieval.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &side); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []struct {
		name, prefix string
		i2t, t2i     []float64
	}{{"itm", "test/", itmI2T, itmT2I}, {"emb", "test_emb/", i2t, t2i}} {
		rt, err := Ranks(kind.i2t, Nv, Nt, gtV)
		if err != nil {
			t.Fatal(err)
		}
		ri, err := Ranks(kind.t2i, Nt, Nv, gtT)
		if err != nil {
			t.Fatal(err)
		}
		checkInts(t, "ret.ranks."+kind.name+".txt", rt, io.get(t, "ret.ranks."+kind.name+".txt", Nv).I64)
		checkInts(t, "ret.ranks."+kind.name+".img", ri, io.get(t, "ret.ranks."+kind.name+".img", Nt).I64)
		tr1, tr5, tr10, tm := Recall(rt)
		ir1, ir5, ir10, im := Recall(ri)
		got := map[string]float64{"txt_r1": tr1, "txt_r5": tr5, "txt_r10": tr10, "txt_r_mean": tm, "img_r1": ir1, "img_r5": ir5, "img_r10": ir10, "img_r_mean": im}
		all := Metrics(rt, ri)
		for key, g := range got {
			if all[key] != g {
				t.Errorf("Metrics %s%s = %v, Recall %v", kind.prefix, key, all[key], g)
			}
		}
		got["r_mean"] = all["r_mean"]
		want, ok := side.Metrics[kind.prefix]
		if !ok {
			t.Fatalf("stage2_retrieval.json has no metrics %q", kind.prefix)
		}
		for key, g := range got {
			if w, ok := want[key]; !ok || w != g {
				t.Errorf("%s%s = %v, reference %v", kind.prefix, key, g, w)
			}
		}
	}
}

// checkITM compares a re-ranked matrix: the NotScored fill exactly, the filled entries within
// 1e-4 of their largest magnitude.
func checkITM(t *testing.T, name string, got []float64, want []float32) {
	t.Helper()
	var g []float64
	var w []float32
	for i := range want {
		if (want[i] == NotScored) != (got[i] == NotScored) {
			t.Errorf("%s[%d] = %v, reference %v: a different entry was re-scored", name, i, got[i], want[i])
			return
		}
		if want[i] != NotScored {
			g, w = append(g, got[i]), append(w, want[i])
		}
	}
	checkAct(t, name+" (filled entries)", g, w)
}
