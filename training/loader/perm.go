package loader

import "github.com/umt-dev/umt/internal/splitmix"

// Permutation returns a permutation of [0, n) that depends only on (seed, epoch):
// Fisher–Yates driven by SplitMix64 keyed by both, identical on every machine and rank.
func Permutation(n int, seed uint64, epoch int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	s := splitmix.Source{State: seed ^ 0x243f6a8885a308d3}
	s.State ^= s.Uint64() ^ uint64(int64(epoch))*0x9e3779b97f4a7c15
	for i := n - 1; i > 0; i-- {
		j := int(s.Below(uint64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
