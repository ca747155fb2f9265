// Package umt holds the pieces of UMT's stage-2 model that combine the vision and text
// encoders (UMT.md §2.5): the video-text contrastive loss (VTC) and the cross-entropy of the
// video-text matching head (VTM), with their gradients. Both work on small [B, B] or [3B, 2]
// matrices, so they run on the host in float64 on values downloaded from the backend (the
// projections and the itm_head logits), and hand their gradients back for upload. The step's
// random choices live here too: MLM masking (MaskMLM), VTM's hard negatives within each
// rank's group of the batch (Draws.HardNegatives) and their seeded draws (NewDraws);
// models/multimodal assembles the whole model.
package umt

import (
	"fmt"
	"math"
)

// normEps is F.normalize's eps: x / max(‖x‖, 1e-12).
const normEps = 1e-12

// VTC is the contrastive loss of one batch and its gradients.
type VTC struct {
	Loss  float64
	Sim   []float64 // [B, B] sim_v2t (sim_t2v is its transpose)
	DV    []float64 // [B, T, E] d loss / d vision_proj
	DT    []float64 // [B, E] d loss / d text_proj
	DTemp float64   // d loss / d temp
}

// VTCLoss is criterions.py's vtc_loss: with v̂, t̂ the L2-normalised projections,
//
//	sim_v2t[m, n] = mean_l ⟨v̂[m, l], t̂[n]⟩ / temp,  sim_t2v = sim_v2tᵀ
//	M[m, n] = [idx_m == idx_n] / Σ_n' [idx_m == idx_n']   (identity when idx is nil)
//	loss = ½(−mean_m Σ_n M log softmax_n(sim_v2t) − mean_m Σ_n M log softmax_n(sim_t2v))
//
// v is vision_proj [B, T, E] (T = 1 in training: one pooled vector per clip), t is text_proj
// [B, E], temp the clamped temperature. Equal idx make off-diagonal positives (UMT.md §9.6).
// With a single process the all-gather is the identity, so this is UMT's loss on one GPU; a
// data-parallel trainer gathers v, t and idx first and keeps its local slice of the gradients
// (multimodal.Step, running the global batch, gives DV and DT the 1/ranks weight that results).
func VTCLoss(v, t []float64, idx []int64, B, T, E int, temp float64) (VTC, error) {
	if B <= 0 || T <= 0 || E <= 0 || len(v) != B*T*E || len(t) != B*E || (idx != nil && len(idx) != B) {
		return VTC{}, fmt.Errorf("umt: VTC needs vision [B, T, E] = %d, text [B, E] = %d and nil or B idx (got %d, %d, %d)", B*T*E, B*E, len(v), len(t), len(idx))
	}
	if !(temp > 0) {
		return VTC{}, fmt.Errorf("umt: VTC temperature %v must be positive", temp)
	}
	vn, vnorm := normalize(v, B*T, E)
	tn, tnorm := normalize(t, B, E)
	// vbar[m] = mean_l v̂[m, l]
	vbar := make([]float64, B*E)
	for m := 0; m < B; m++ {
		for l := 0; l < T; l++ {
			for e := 0; e < E; e++ {
				vbar[m*E+e] += vn[(m*T+l)*E+e] / float64(T)
			}
		}
	}
	r := VTC{Sim: make([]float64, B*B), DV: make([]float64, B*T*E), DT: make([]float64, B*E)}
	for m := 0; m < B; m++ {
		for n := 0; n < B; n++ {
			var s float64
			for e := 0; e < E; e++ {
				s += vbar[m*E+e] * tn[n*E+e]
			}
			r.Sim[m*B+n] = s / temp
		}
	}
	M := targets(idx, B)
	// d loss / d sim, from both directions: (softmax − M) / B per row, halved.
	dS := make([]float64, B*B)
	simT := transpose(r.Sim, B)
	for dir, s := range [2][]float64{r.Sim, simT} {
		for m := 0; m < B; m++ {
			row := s[m*B : (m+1)*B]
			lse := logSumExp(row)
			for n := 0; n < B; n++ {
				if M[m*B+n] != 0 {
					r.Loss -= 0.5 * M[m*B+n] * (row[n] - lse) / float64(B)
				}
				g := 0.5 * (math.Exp(row[n]-lse) - M[m*B+n]) / float64(B)
				if dir == 0 {
					dS[m*B+n] += g
				} else {
					dS[n*B+m] += g
				}
			}
		}
	}
	// sim = vbar·t̂ᵀ / temp
	dvbar, dtn := make([]float64, B*E), make([]float64, B*E)
	for m := 0; m < B; m++ {
		for n := 0; n < B; n++ {
			g := dS[m*B+n] / temp
			r.DTemp -= dS[m*B+n] * r.Sim[m*B+n] / temp
			for e := 0; e < E; e++ {
				dvbar[m*E+e] += g * tn[n*E+e]
				dtn[n*E+e] += g * vbar[m*E+e]
			}
		}
	}
	dvn := make([]float64, B*T*E)
	for m := 0; m < B; m++ {
		for l := 0; l < T; l++ {
			for e := 0; e < E; e++ {
				dvn[(m*T+l)*E+e] = dvbar[m*E+e] / float64(T)
			}
		}
	}
	normalizeBackward(r.DV, dvn, vn, vnorm, B*T, E)
	normalizeBackward(r.DT, dtn, tn, tnorm, B, E)
	return r, nil
}

// targets is get_mask(normalize=True): eq(idx)ᵀ row-normalised, or the identity.
func targets(idx []int64, B int) []float64 {
	M := make([]float64, B*B)
	for m := 0; m < B; m++ {
		cnt := 0
		for n := 0; n < B; n++ {
			if (idx == nil && m == n) || (idx != nil && idx[m] == idx[n]) {
				M[m*B+n] = 1
				cnt++
			}
		}
		for n := 0; n < B; n++ {
			M[m*B+n] /= float64(cnt)
		}
	}
	return M
}

func transpose(s []float64, B int) []float64 {
	out := make([]float64, B*B)
	for i := 0; i < B; i++ {
		for j := 0; j < B; j++ {
			out[j*B+i] = s[i*B+j]
		}
	}
	return out
}

func logSumExp(row []float64) float64 {
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, x)
	}
	var s float64
	for _, x := range row {
		s += math.Exp(x - mx)
	}
	return mx + math.Log(s)
}

// normalize returns x / max(‖x‖, eps) per row and the clamped norms.
func normalize(x []float64, rows, dim int) (y, norm []float64) {
	y, norm = make([]float64, len(x)), make([]float64, rows)
	for r := 0; r < rows; r++ {
		var s float64
		for _, v := range x[r*dim : (r+1)*dim] {
			s += v * v
		}
		norm[r] = math.Max(math.Sqrt(s), normEps)
		for i, v := range x[r*dim : (r+1)*dim] {
			y[r*dim+i] = v / norm[r]
		}
	}
	return y, norm
}

// normalizeBackward writes dx of y = x / ‖x‖: (dy − y⟨y, dy⟩) / ‖x‖ (dy / eps where the norm
// was clamped, as F.normalize's max makes the norm constant there).
func normalizeBackward(dx, dy, y, norm []float64, rows, dim int) {
	for r := 0; r < rows; r++ {
		yr, dr := y[r*dim:(r+1)*dim], dy[r*dim:(r+1)*dim]
		var dot float64
		if norm[r] > normEps {
			for i := range yr {
				dot += yr[i] * dr[i]
			}
		}
		for i := range yr {
			dx[r*dim+i] = (dr[i] - yr[i]*dot) / norm[r]
		}
	}
}

// ITMLabels are VTM's labels for the fusion batch [t; t; t_neg] × [v; v_neg; v]: 1 for the B
// positives, 0 for the 2B negatives.
func ITMLabels(B int) []int {
	l := make([]int, 3*B)
	for i := 0; i < B; i++ {
		l[i] = 1
	}
	return l
}

// CrossEntropy is F.cross_entropy with mean reduction over rows of logits [rows, cols]
// (float64, log-sum-exp), and its gradient (softmax − onehot) / rows. VTM applies it to the
// itm_head logits [3B, 2] with ITMLabels.
func CrossEntropy(logits []float64, labels []int, cols int) (float64, []float64, error) {
	rows := len(labels)
	if cols <= 0 || len(logits) != rows*cols || rows == 0 {
		return 0, nil, fmt.Errorf("umt: cross-entropy of %d logits for %d labels of %d classes", len(logits), rows, cols)
	}
	var loss float64
	d := make([]float64, len(logits))
	for r, y := range labels {
		if y < 0 || y >= cols {
			return 0, nil, fmt.Errorf("umt: label %d of row %d is outside [0, %d)", y, r, cols)
		}
		row := logits[r*cols : (r+1)*cols]
		lse := logSumExp(row)
		loss += (lse - row[y]) / float64(rows)
		for c := range row {
			d[r*cols+c] = math.Exp(row[c]-lse) / float64(rows)
		}
		d[r*cols+y] -= 1 / float64(rows)
	}
	return loss, d, nil
}
