package multimodal

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/umt-dev/umt/models"
	"github.com/umt-dev/umt/models/bert"
)

// unit is F.normalize of one vector, in float64.
func unit(x []float32) []float64 {
	var s float64
	for _, a := range x {
		s += float64(a) * float64(a)
	}
	n := math.Max(math.Sqrt(s), 1e-12) // F.normalize
	out := make([]float64, len(x))
	for i, a := range x {
		out[i] = float64(a) / n
	}
	return out
}

// UnitRows is F.normalize of each of the rows of x [rows, E], as get_sim normalises the
// projections, rounded to float32.
func UnitRows(x []float32, E int) []float32 {
	out := make([]float32, 0, len(x))
	for r := 0; r+E <= len(x); r += E {
		for _, v := range unit(x[r : r+E]) {
			out = append(out, float32(v))
		}
	}
	return out
}

// VideoEmbedding is a video's contrastive vector from its P per-frame projections [P, E]
// (EmbedVision's Proj with keep_temporal): the frames F.normalize'd ([P, E]) and their mean
// ([E], not renormalised), so that its dot product with a unit text projection is the video's
// ITCScores entry, the mean over frames of the per-frame cosine.
func VideoEmbedding(proj []float32, P, E int) (frames, video []float32) {
	acc := make([]float64, E)
	for l := 0; l < P; l++ {
		for e, v := range unit(proj[l*E : (l+1)*E]) {
			acc[e] += v / float64(P)
			frames = append(frames, float32(v))
		}
	}
	video = make([]float32, E)
	for e, v := range acc {
		video[e] = float32(v)
	}
	return frames, video
}

// ITCScores is the retrieval evaluation's contrastive score matrix i2t [Nv, Nt]
// (retrieval_utils.py with get_sim at temp 1): the mean over a video's P per-frame projections
// of their cosine with each text projection. t2i is its transpose.
func ITCScores(v []float32, Nv, P int, t []float32, Nt, E int) ([]float64, error) {
	if Nv <= 0 || P <= 0 || Nt <= 0 || E <= 0 || len(v) != Nv*P*E || len(t) != Nt*E {
		return nil, fmt.Errorf("multimodal: ITC scores need vision [Nv, P, E] = %d and text [Nt, E] = %d values (got %d, %d)", Nv*P*E, Nt*E, len(v), len(t))
	}
	tn := make([][]float64, Nt)
	for j := range tn {
		tn[j] = unit(t[j*E : (j+1)*E])
	}
	out := make([]float64, Nv*Nt)
	for i := 0; i < Nv; i++ {
		for l := 0; l < P; l++ {
			vn := unit(v[(i*P+l)*E : (i*P+l+1)*E])
			for j := 0; j < Nt; j++ {
				var d float64
				for e := range vn {
					d += vn[e] * tn[j][e]
				}
				out[i*Nt+j] += d / float64(P)
			}
		}
	}
	return out, nil
}

// TopK returns the indices of the k largest of row, largest first (torch.topk; equal values
// keep ascending index order).
func TopK(row []float64, k int) []int {
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] > row[idx[b]] })
	return idx[:min(k, len(idx))]
}

// NotScored fills the re-ranked score matrices outside each query's top k
// (retrieval_utils.py: torch.full(..., -100.0)).
const NotScored = -100.0

// ITMScores re-ranks an ITC matrix i2t [Nv, Nt] as the evaluation does: each video's top-k
// texts and each text's top-k videos get itm_head's match logit (column 1) of the fusion of
// the text's tokens with all of the video's tokens (an all-ones memory); every other entry is
// NotScored. vision holds EmbedVision's Tokens [Nv·N, D], text EmbedText's Tokens [Nt·L, H]
// with their masks [Nt·L]. It returns i2t [Nv, Nt] and t2i [Nt, Nv].
func (m *Model) ITMScores(vision []float32, N int, text []float32, mask []int32, L int, i2t []float64, Nv, Nt, k int) ([]float64, []float64, error) {
	c := m.Cfg
	D, H := c.Vision.Dim, c.Text.Hidden
	if len(vision) != Nv*N*D || len(text) != Nt*L*H || len(mask) != Nt*L || len(i2t) != Nv*Nt || k <= 0 {
		return nil, nil, fmt.Errorf("multimodal: ITM scores need vision [Nv·N, D] = %d, text [Nt·L, H] = %d, masks %d, i2t %d and k > 0 (got %d, %d, %d, %d)",
			Nv*N*D, Nt*L*H, Nt*L, Nv*Nt, len(vision), len(text), len(mask), len(i2t))
	}
	type pair struct{ v, t int }
	var pairs []pair
	for v := 0; v < Nv; v++ {
		for _, t := range TopK(i2t[v*Nt:(v+1)*Nt], k) {
			pairs = append(pairs, pair{v, t})
		}
	}
	nI2T := len(pairs)
	for t := 0; t < Nt; t++ {
		col := make([]float64, Nv)
		for v := range col {
			col[v] = i2t[v*Nt+t]
		}
		for _, v := range TopK(col, k) {
			pairs = append(pairs, pair{v, t})
		}
	}
	P := len(pairs)
	s := scratch{be: m.be}
	defer s.free()
	vRows, tRows, cRows := make([]int32, P), make([]int32, P), make([]int32, P)
	pm := make([]int32, 0, P*L)
	for i, p := range pairs {
		vRows[i], tRows[i], cRows[i] = int32(p.v), int32(p.t), int32(i*L)
		pm = append(pm, mask[p.t*L:(p.t+1)*L]...)
	}
	vis, txt := s.alloc(P*N*D), s.alloc(P*L*H)
	m.be.GatherRows(vis, s.up(vision), s.index(vRows), N*D)
	m.be.GatherRows(txt, s.up(text), s.index(tRows), L*H)
	fp, err := m.Text.Fusion(txt, pm, P, L, bert.Vision{N: N, Tokens: vis})
	if err != nil {
		return nil, nil, err
	}
	defer fp.Close()
	cls, logits := s.alloc(P*H), s.alloc(P*2)
	m.be.GatherRows(cls, fp.Out(), s.index(cRows), H)
	models.Linear(m.be, logits, cls, m.hw(m.hx.itmW), m.hw(m.hx.itmB), P, H, 2)
	lg := make([]float32, P*2)
	if err := m.be.Download(lg, logits); err != nil {
		return nil, nil, err
	}
	outI2T, outT2I := make([]float64, Nv*Nt), make([]float64, Nt*Nv)
	for i := range outI2T {
		outI2T[i] = NotScored
	}
	for i := range outT2I {
		outT2I[i] = NotScored
	}
	for i, p := range pairs {
		if i < nI2T {
			outI2T[p.v*Nt+p.t] = float64(lg[2*i+1])
		} else {
			outT2I[p.t*Nv+p.v] = float64(lg[2*i+1])
		}
	}
	return outI2T, outT2I, nil
}

// Ranks are itm_eval's ranks: for query q, the best position of any of its ground-truth
// candidates gt[q] in the candidates sorted by descending score, where equal scores put the
// higher index first (numpy's stable argsort, reversed). scores is [Nq, Nc].
func Ranks(scores []float64, Nq, Nc int, gt [][]int) ([]int, error) {
	if len(scores) != Nq*Nc || len(gt) != Nq {
		return nil, fmt.Errorf("multimodal: ranks of a [%d, %d] matrix with %d values and %d ground-truth lists", Nq, Nc, len(scores), len(gt))
	}
	out := make([]int, Nq)
	for q := 0; q < Nq; q++ {
		row := scores[q*Nc : (q+1)*Nc]
		order := make([]int, Nc)
		for i := range order {
			order[i] = Nc - 1 - i
		}
		sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
		best := -1
		for pos, c := range order {
			if slices.Contains(gt[q], c) {
				best = pos
				break
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("multimodal: query %d has no ground truth among %d candidates", q, Nc)
		}
		out[q] = best
	}
	return out, nil
}

// Recall is itm_eval's metrics of one direction: 100·fraction of ranks below 1, 5, 10 and
// their mean, each rounded to 2 decimals as the official code reports them (the mean is taken
// before rounding).
func Recall(ranks []int) (r1, r5, r10, mean float64) {
	a, b, d := recall(ranks)
	return roundMetric(a), roundMetric(b), roundMetric(d), roundMetric((a + b + d) / 3)
}

// recall is Recall before rounding.
func recall(ranks []int) (r1, r5, r10 float64) {
	frac := func(n int) float64 {
		c := 0
		for _, r := range ranks {
			if r < n {
				c++
			}
		}
		return 100 * float64(c) / float64(len(ranks))
	}
	return frac(1), frac(5), frac(10)
}

func roundMetric(x float64) float64 { return math.RoundToEven(x*100) / 100 }

// MetricNames are itm_eval's keys in its order.
var MetricNames = []string{"txt_r1", "txt_r5", "txt_r10", "txt_r_mean", "img_r1", "img_r5", "img_r10", "img_r_mean", "r_mean"}

// Metrics is itm_eval's result of text ranks (per video) and image ranks (per text): Recall
// of each direction and r_mean, the mean of both directions' unrounded means, rounded.
func Metrics(txtRanks, imgRanks []int) map[string]float64 {
	t1, t5, t10 := recall(txtRanks)
	i1, i5, i10 := recall(imgRanks)
	tm, im := (t1+t5+t10)/3, (i1+i5+i10)/3
	out := map[string]float64{}
	for i, v := range []float64{t1, t5, t10, tm, i1, i5, i10, im, (tm + im) / 2} {
		out[MetricNames[i]] = roundMetric(v)
	}
	return out
}
