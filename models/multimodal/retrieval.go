package multimodal

import (
	"fmt"
	"math"
)

// ITCScores is the retrieval evaluation's contrastive score matrix i2t [Nv, Nt]
// (retrieval_utils.py with get_sim at temp 1): the mean over a video's P per-frame projections
// of their cosine with each text projection. t2i is its transpose.
func ITCScores(v []float32, Nv, P int, t []float32, Nt, E int) ([]float64, error) {
	if Nv <= 0 || P <= 0 || Nt <= 0 || E <= 0 || len(v) != Nv*P*E || len(t) != Nt*E {
		return nil, fmt.Errorf("multimodal: ITC scores need vision [Nv, P, E] = %d and text [Nt, E] = %d values (got %d, %d)", Nv*P*E, Nt*E, len(v), len(t))
	}
	unit := func(x []float32) []float64 {
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
