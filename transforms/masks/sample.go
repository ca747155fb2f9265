package masks

import (
	"fmt"
	"math"
	"sort"

	"github.com/umt-dev/umt/internal/splitmix"
)

// Stream is a deterministic source of Exp(1) noise: SplitMix64 over a state derived from
// (seed, clip id, epoch, draw). Two streams with the same key produce the same values on every
// machine; streams of different clips are independent of visiting order.
type Stream struct{ src splitmix.Source }

// NewStream keys a stream by the run seed, the clip's stable id, the epoch and the draw number
// (prep draws M masks per clip with draw = 0..M−1 and epoch = −1; training uses draw 0).
func NewStream(seed uint64, clipID string, epoch, draw int) *Stream {
	h := uint64(14695981039346656037) // FNV-1a over the clip id
	for i := 0; i < len(clipID); i++ {
		h ^= uint64(clipID[i])
		h *= 1099511628211
	}
	s := &Stream{src: splitmix.Source{State: seed}}
	s.mix(h)
	s.mix(uint64(int64(epoch)))
	s.mix(uint64(int64(draw)))
	return s
}

func (s *Stream) mix(v uint64) {
	s.src.State ^= v
	s.src.State = s.Uint64()
}

// Uint64 returns the next 64 random bits.
func (s *Stream) Uint64() uint64 { return s.src.Uint64() }

// Exp returns an Exp(1) draw, −log(u) with u uniform in (0, 1], as float32.
func (s *Stream) Exp() float32 {
	u := (float64(s.Uint64()>>11) + 1) / (1 << 53)
	return float32(-math.Log(u))
}

// Sample draws one clip's mask: attn is [frames, hw] (the teacher's CLS attention), ratio the
// mask ratio. It returns the visible patch indices per frame, ascending, [frames][nVis].
func Sample(attn []float32, frames, hw int, ratio float64, s *Stream) ([][]int, error) {
	if frames <= 0 || hw <= 0 || len(attn) != frames*hw {
		return nil, fmt.Errorf("masks: attn has %d values, want frames·hw = %d·%d", len(attn), frames, hw)
	}
	nVis := VisibleCount(hw, ratio)
	noise := make([]float32, len(attn))
	for f := 0; f < frames; f++ {
		if err := checkAttn(attn[f*hw:(f+1)*hw], nVis); err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		for i := f * hw; i < (f+1)*hw; i++ {
			noise[i] = s.Exp()
		}
	}
	return FromNoise(attn, noise, frames, hw, nVis)
}

// SampleAmong is the restricted sampler for `visible:M` shards, which store teacher features
// only for stored[t] (the union of M pre-drawn masks of frame t). It draws nVis patches per
// frame without replacement among those tokens, with probability proportional to attn
// ([frames, hw], the full-frame attention), and returns them ascending, [frames][nVis].
func SampleAmong(attn []float32, stored [][]int, hw, nVis int, s *Stream) ([][]int, error) {
	frames := len(stored)
	if frames == 0 || len(attn) != frames*hw {
		return nil, fmt.Errorf("masks: attn has %d values, want %d frames · %d patches", len(attn), frames, hw)
	}
	out := make([][]int, frames)
	for f, cand := range stored {
		if len(cand) < nVis {
			return nil, fmt.Errorf("masks: frame %d stores %d tokens but a mask needs %d visible; rebuild the dataset with more pre-drawn masks or a lower ratio", f, len(cand), nVis)
		}
		w := make([]float32, len(cand))
		for i, p := range cand {
			if p < 0 || p >= hw {
				return nil, fmt.Errorf("masks: frame %d stores token %d outside [0, %d)", f, p, hw)
			}
			w[i] = attn[f*hw+p]
		}
		if err := checkAttn(w, nVis); err != nil {
			return nil, fmt.Errorf("frame %d: %w", f, err)
		}
		keys := make([]float32, len(cand))
		for i := range w {
			keys[i] = w[i] / s.Exp()
		}
		ord := Order(keys)
		vis := make([]int, nVis)
		for i := 0; i < nVis; i++ {
			vis[i] = cand[ord[i]]
		}
		sort.Ints(vis)
		out[f] = vis
	}
	return out, nil
}

// Union merges per-frame index lists (the M masks a `visible:M` layout stores) into one
// ascending, duplicate-free list per frame.
func Union(masks ...[][]int) [][]int {
	if len(masks) == 0 {
		return nil
	}
	out := make([][]int, len(masks[0]))
	for f := range out {
		seen := map[int]bool{}
		for _, m := range masks {
			for _, p := range m[f] {
				if !seen[p] {
					seen[p] = true
					out[f] = append(out[f], p)
				}
			}
		}
		sort.Ints(out[f])
	}
	return out
}
