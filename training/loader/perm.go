package loader

// Permutation returns a permutation of [0, n) that depends only on (seed, epoch):
// Fisher–Yates driven by SplitMix64 keyed by both, identical on every machine and rank.
func Permutation(n int, seed uint64, epoch int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	s := splitmix{seed ^ 0x243f6a8885a308d3}
	s.state ^= s.next() ^ uint64(int64(epoch))*0x9e3779b97f4a7c15
	for i := n - 1; i > 0; i-- {
		j := int(s.below(uint64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below returns a uniform value in [0, n) without modulo bias (rejection sampling).
func (s *splitmix) below(n uint64) uint64 {
	limit := -n % n // 2⁶⁴ mod n
	for {
		v := s.next()
		if v >= limit {
			return v % n
		}
	}
}
