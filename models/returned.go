package models

import (
	"fmt"
	"math"
	"slices"
)

// maxDepth bounds the block count a config may ask for (a bad config must not allocate without
// bound).
const maxDepth = 1 << 12

// ReturnedBlocks lists the 0-based blocks of a depth-block transformer whose outputs UMT aligns,
// in the order they are stacked (ascending), for k returned layers every interval blocks
// counted from the last. It is the rule of the official teacher (clip_return_interval) and
// student (clip_student_return_interval): block depth−1−⌊i·interval⌋ for i = 0 … k−1, where
// the interval is a float on the official command line; the stack keeps forward order.
//
// The official code collects a block when its index is in that list, so a list with repeats
// (interval < 1) or below 0 yields fewer than k stacked layers and then fails (index error in
// the student's decoders, shape mismatch in the loss). Such settings are an error here.
func ReturnedBlocks(depth, k int, interval float64) ([]int, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%d blocks: more than any transformer this code runs (%d)", depth, maxDepth)
	}
	if depth <= 0 || k <= 0 || k > depth {
		return nil, fmt.Errorf("%d returned layers of %d blocks: need 1 <= layers <= blocks", k, depth)
	}
	if !(interval >= 0) || math.IsInf(interval, 0) {
		return nil, fmt.Errorf("return interval %v must be a finite number >= 0", interval)
	}
	list := make([]int, k) // the official order: from the last block backwards
	for i := range list {
		step := min(math.Trunc(float64(i)*interval), 1<<30) // Python's int() of a float >= 0
		list[i] = depth - 1 - int(step)
	}
	if last := list[k-1]; last < 0 {
		return nil, fmt.Errorf("%d returned layers every %v blocks of %d give blocks %v, which reach block %d (0 is the first)", k, interval, depth, list, last)
	}
	out := slices.Clone(list)
	slices.Reverse(out)
	for i := 1; i < k; i++ {
		if out[i] == out[i-1] {
			return nil, fmt.Errorf("%d returned layers every %v blocks give blocks %v, which repeat block %d: the official code would stack fewer than %d layers (use an interval >= 1, or 1 returned layer)", k, interval, list, out[i], k)
		}
	}
	return out, nil
}
