package vit

import "math"

// Sinusoid returns UMT's fixed 1-D position table [n, d] over the flattened token index:
// angle(p, j) = p / 10000^(2·⌊j/2⌋/d), sin at even j and cos at odd j, computed in float64 and
// rounded to float32 (modeling_pretrain_umt.py get_sinusoid_encoding_table).
func Sinusoid(n, d int) []float32 {
	out := make([]float32, n*d)
	for p := 0; p < n; p++ {
		for j := 0; j < d; j++ {
			a := float64(p) / math.Pow(10000, 2*float64(j/2)/float64(d))
			if j%2 == 0 {
				out[p*d+j] = float32(math.Sin(a))
			} else {
				out[p*d+j] = float32(math.Cos(a))
			}
		}
	}
	return out
}
