// Package splitmix is SplitMix64 (Steele, Lea and Flood, 2014): a small seedable generator
// whose sequence is the same on every platform and Go version. Data order (training/loader),
// semantic masks (transforms/masks) and weight initialisation (models/vit) draw from it, so a
// run repeats bit for bit on any machine.
package splitmix

// Source is a SplitMix64 generator; its zero value is seeded with 0. State may be set directly
// to seed it or to mix keys into it.
type Source struct{ State uint64 }

// Uint64 returns the next 64 random bits.
func (s *Source) Uint64() uint64 {
	s.State += 0x9e3779b97f4a7c15
	z := s.State
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Below returns a uniform value in [0, n) without modulo bias (rejection sampling); n > 0.
func (s *Source) Below(n uint64) uint64 {
	limit := -n % n // 2⁶⁴ mod n
	for {
		if v := s.Uint64(); v >= limit {
			return v % n
		}
	}
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (s *Source) Float64() float64 { return float64(s.Uint64()>>11) / (1 << 53) }
