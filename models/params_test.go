package models

import (
	"slices"
	"testing"
)

// TestLayoutGroupsDecayedTensorsFirst: decay follows UMT's rule (≥2-D and not ".bias"), decayed
// tensors take the first offsets in official order, the rest follow, and the offsets tile the
// buffer without gaps.
func TestLayoutGroupsDecayedTensorsFirst(t *testing.T) {
	ps := Layout([]Param{
		{Name: "a.weight", Shape: []int{2, 3}},
		{Name: "a.bias", Shape: []int{2}},
		{Name: "norm.weight", Shape: []int{3}},
		{Name: "emb.weight", Shape: []int{4, 3}},
		{Name: "odd.bias", Shape: []int{2, 2}},
		{Name: "temp", Shape: []int{}},
	})
	var decay []string
	for _, p := range ps {
		if p.Decay {
			decay = append(decay, p.Name)
		}
	}
	if !slices.Equal(decay, []string{"a.weight", "emb.weight"}) {
		t.Fatalf("decayed %v", decay)
	}
	want := map[string][2]int{"a.weight": {0, 6}, "emb.weight": {6, 12}, "a.bias": {18, 2}, "norm.weight": {20, 3}, "odd.bias": {23, 4}, "temp": {27, 1}}
	for _, p := range ps {
		if w := want[p.Name]; p.Off != w[0] || p.Len != w[1] {
			t.Errorf("%s: off %d len %d, want %v", p.Name, p.Off, p.Len, w)
		}
	}
}
