package models

import (
	"slices"
	"strings"
	"testing"
)

// TestReturnedBlocksFollowOfficialRule checks the returned blocks against expectations worked out
// by hand from the official code (single_modality/models/clip.py Transformer.__init__/forward and
// modeling_pretrain_umt.py PretrainVisionTransformerEncoder, commit 4fb4049): the index list is
// [depth-1 - int(i*interval) for i in range(K)] (built from the last block backwards), and the
// forward loop appends a block's output when its index is in that list, so the stack is in
// ascending block order. Decoder k and teacher layer k are the k-th entries of these lists, and
// the loss is a plain mean over all K stacked layers, the clips and their visible tokens.
func TestReturnedBlocksFollowOfficialRule(t *testing.T) {
	for _, c := range []struct {
		name     string
		depth, k int
		interval float64
		want     []int // stacking order (dim 0 of the teacher's features / the student's outputs)
	}{
		// interval 1, the recipe: the last K blocks.
		{"B16 recipe", 12, 6, 1, []int{6, 7, 8, 9, 10, 11}},
		{"L16 recipe", 24, 6, 1, []int{18, 19, 20, 21, 22, 23}},
		{"reference set", 3, 2, 1, []int{1, 2}},
		// interval 2: list [11 9 7 5 3 1] → stacked [1 3 5 7 9 11].
		{"B16 interval 2", 12, 6, 2, []int{1, 3, 5, 7, 9, 11}},
		{"L16 interval 2", 24, 6, 2, []int{13, 15, 17, 19, 21, 23}},
		{"tiny interval 2", 3, 2, 2, []int{0, 2}},
		// interval 3: list [11 8 5 2] → stacked [2 5 8 11].
		{"B16 interval 3", 12, 4, 3, []int{2, 5, 8, 11}},
		{"L16 interval 3", 24, 6, 3, []int{8, 11, 14, 17, 20, 23}},
		{"depth 5 interval 3", 5, 2, 3, []int{1, 4}},
		// the interval is a float: int(i*1.5) = 0, 1, 3, 4 → list [11 10 8 7].
		{"interval 1.5", 12, 4, 1.5, []int{7, 8, 10, 11}},
		{"interval 2.5", 12, 3, 2.5, []int{6, 9, 11}}, // int(0), int(2.5)=2, int(5.0)=5
		// one layer: only i=0, whatever the interval.
		{"one layer", 12, 1, 7, []int{11}},
		{"one layer interval 0", 12, 1, 0, []int{11}},
	} {
		got, err := ReturnedBlocks(c.depth, c.k, c.interval)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: ReturnedBlocks(%d, %d, %v) = %v, official code returns %v", c.name, c.depth, c.k, c.interval, got, c.want)
		}
	}
}

// TestReturnedBlocksRejectsWhatTheOfficialCodeCannotStack: settings whose index list runs below
// block 0 or repeats a block make the official code stack fewer than K layers (and then fail);
// here they are errors that say why.
func TestReturnedBlocksRejectsWhatTheOfficialCodeCannotStack(t *testing.T) {
	for _, c := range []struct {
		name     string
		depth, k int
		interval float64
		msg      string
	}{
		{"below block 0", 12, 6, 3, "reach block -4"}, // list [11 8 5 2 -1 -4]
		{"tiny interval 3", 3, 2, 3, "reach block -1"},
		{"repeats", 12, 2, 0.5, "repeat block 11"}, // list [11 11]
		{"interval 0", 12, 6, 0, "repeat block 11"},
		{"negative interval", 12, 2, -1, ">= 0"},
		{"more layers than blocks", 3, 4, 1, "need 1 <= layers <= blocks"},
		{"no layers", 3, 0, 1, "need 1 <= layers <= blocks"},
	} {
		got, err := ReturnedBlocks(c.depth, c.k, c.interval)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: ReturnedBlocks(%d, %d, %v) = %v, %v; want an error containing %q", c.name, c.depth, c.k, c.interval, got, err, c.msg)
		}
	}
}

// TestReturnedBlocksAreAscendingAndEndAtTheLast is the property behind the table: for every
// depth, K and integer interval that fits, the blocks ascend by exactly the interval and end at
// the last block.
func TestReturnedBlocksAreAscendingAndEndAtTheLast(t *testing.T) {
	for depth := 1; depth <= 26; depth++ {
		for k := 1; k <= depth; k++ {
			for iv := 1; iv <= depth; iv++ {
				got, err := ReturnedBlocks(depth, k, float64(iv))
				fits := depth-1-(k-1)*iv >= 0
				if fits != (err == nil) {
					t.Fatalf("ReturnedBlocks(%d, %d, %d): err %v, fits %v", depth, k, iv, err, fits)
				}
				if err != nil {
					continue
				}
				if got[k-1] != depth-1 {
					t.Fatalf("ReturnedBlocks(%d, %d, %d) = %v does not end at block %d", depth, k, iv, got, depth-1)
				}
				for i := 1; i < k; i++ {
					if got[i]-got[i-1] != iv {
						t.Fatalf("ReturnedBlocks(%d, %d, %d) = %v: step %d", depth, k, iv, got, got[i]-got[i-1])
					}
				}
			}
		}
	}
}

// FuzzReturnedBlocks: any depth, K and interval give either an error or K distinct ascending
// blocks inside [0, depth) ending at the last; never a panic.
func FuzzReturnedBlocks(f *testing.F) {
	f.Add(12, 6, 1.0)
	f.Add(3, 2, 3.0)
	f.Add(12, 4, 1.5)
	f.Add(5, 5, 1e300)
	f.Fuzz(func(t *testing.T, depth, k int, interval float64) {
		got, err := ReturnedBlocks(depth, k, interval)
		if err != nil {
			return
		}
		if len(got) != k || got[k-1] != depth-1 || got[0] < 0 {
			t.Fatalf("ReturnedBlocks(%d, %d, %v) = %v", depth, k, interval, got)
		}
		for i := 1; i < k; i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("ReturnedBlocks(%d, %d, %v) = %v is not strictly ascending", depth, k, interval, got)
			}
		}
	})
}
