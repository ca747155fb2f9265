package masks

import (
	"fmt"
	"math"
	"sort"
)

// VisibleCount is the number of visible patches per frame: hw − int(hw·ratio), computed in
// float64 as Python does (196 at 0.8 → 40; 16 at 0.8 → 4).
func VisibleCount(hw int, ratio float64) int {
	return hw - int(float64(hw)*ratio)
}

// Keys returns attn/noise per element in float32, the sampling keys torch.multinomial ranks.
func Keys(attn, noise []float32) ([]float32, error) {
	if len(attn) != len(noise) {
		return nil, fmt.Errorf("masks: attn has %d values and noise %d; pass one noise value per attention weight", len(attn), len(noise))
	}
	keys := make([]float32, len(attn))
	for i := range attn {
		keys[i] = attn[i] / noise[i]
	}
	return keys, nil
}

// Order returns the indices of keys sorted by descending key (torch.topk order); equal keys keep
// ascending index order.
func Order(keys []float32) []int {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] > keys[idx[b]] })
	return idx
}

// FromNoise computes the mask of rows frames of hw patches from the teacher attention attn
// [rows, hw] and the Exp(1) noise [rows, hw]: the nVis largest attn/noise keys of each row are
// visible. It returns the visible patch indices per row in ascending order, [rows][nVis].
func FromNoise(attn, noise []float32, rows, hw, nVis int) ([][]int, error) {
	if rows <= 0 || hw <= 0 || len(attn) != rows*hw {
		return nil, fmt.Errorf("masks: attn has %d values, want rows·hw = %d·%d", len(attn), rows, hw)
	}
	if nVis < 1 || nVis > hw {
		return nil, fmt.Errorf("masks: %d visible patches per frame is outside [1, %d]; check the mask ratio", nVis, hw)
	}
	keys, err := Keys(attn, noise)
	if err != nil {
		return nil, err
	}
	out := make([][]int, rows)
	for r := 0; r < rows; r++ {
		ord := Order(keys[r*hw : (r+1)*hw])
		vis := append([]int(nil), ord[:nVis]...)
		sort.Ints(vis)
		out[r] = vis
	}
	return out, nil
}

// BoolMask turns per-frame visible indices [T][nVis] (frame-major) into the flattened mask of one
// clip, [T·hw] with 1 = masked and 0 = visible, as bool_masked_pos in the official code.
func BoolMask(visible [][]int, hw int) []uint8 {
	m := make([]uint8, len(visible)*hw)
	for i := range m {
		m[i] = 1
	}
	for t, row := range visible {
		for _, p := range row {
			m[t*hw+p] = 0
		}
	}
	return m
}

// TokenIndex flattens per-frame visible indices [T][nVis] into ascending token indices t·hw + p.
func TokenIndex(visible [][]int, hw int) []int {
	var out []int
	for t, row := range visible {
		for _, p := range row {
			out = append(out, t*hw+p)
		}
	}
	return out
}

// checkAttn rejects weights torch.multinomial would reject: negative, NaN or infinite values, or
// fewer than need strictly positive weights in a row.
func checkAttn(row []float32, need int) error {
	pos := 0
	for _, a := range row {
		if a < 0 || math.IsNaN(float64(a)) || math.IsInf(float64(a), 0) {
			return fmt.Errorf("masks: attention weight %v is not a finite non-negative number; check the teacher output", a)
		}
		if a > 0 {
			pos++
		}
	}
	if pos < need {
		return fmt.Errorf("masks: only %d of %d attention weights are positive, need %d to sample without replacement", pos, len(row), need)
	}
	return nil
}
