package video

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
)

// SeedFor derives a sampling seed from a clip id (the first 8 bytes of its SHA-256), so the
// same clip gets the same rand/segment frames in every run and on every worker.
func SeedFor(clipID string) uint64 {
	h := sha256.Sum256([]byte(clipID))
	return binary.BigEndian.Uint64(h[:8])
}

func newRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x756d742d73616d70)) // "umt-samp"
}

// linspaceInt is np.linspace(0, vlen, n+1).astype(int): i*step truncated, the last exactly vlen.
func linspaceInt(vlen, n int) []int {
	edges := make([]int, n+1)
	step := float64(vlen) / float64(n)
	for i := 0; i <= n; i++ {
		edges[i] = int(float64(i) * step)
	}
	edges[n] = vlen
	return edges
}

// segmentIndices is UMT's get_frame_indices for 'rand' and 'middle' (dataset/video_utils.py):
// n = min(T, vlen) equal segments [edges[i], edges[i+1]-1]; rand draws uniformly from
// [edges[i], edges[i+1]-2] (Python's random.choice(range(a, b)) never picks b, UMT.md §9.9)
// and falls back to sorted(permutation(vlen)[:n]) when a segment has one frame; middle takes
// (a+b)//2. Fewer than T indices are padded by repeating the last one.
func segmentIndices(kind string, T, vlen int, rng *rand.Rand) []int {
	n := min(T, vlen)
	edges := linspaceInt(vlen, n)
	idx := make([]int, 0, T)
	fallback := false
	for i := 0; i < n; i++ {
		a, b := edges[i], edges[i+1]-1
		if kind == SamplerMiddle {
			idx = append(idx, (a+b)/2)
			continue
		}
		if b <= a {
			fallback = true
			break
		}
		idx = append(idx, a+rng.IntN(b-a))
	}
	if fallback {
		perm := rng.Perm(vlen)[:n]
		sort.Ints(perm)
		idx = perm
	}
	for len(idx) < T {
		idx = append(idx, idx[len(idx)-1])
	}
	return idx
}

// fpsIndices is UMT's 'fpsX': delta = 1/X, secs = arange(delta/2, duration+delta/2, delta)
// with duration = vlen/inputFPS, idx = round-half-even(secs*inputFPS), kept while idx < vlen,
// truncated to maxN when maxN > 0.
func fpsIndices(x float64, vlen int, inputFPS float64, maxN int) []int {
	delta := 1 / x
	duration := float64(vlen) / inputFPS
	start, stop := delta/2, duration+delta/2
	n := int(math.Ceil((stop - start) / delta))
	var idx []int
	for i := 0; i < n; i++ {
		sec := start + float64(i)*delta
		k := int(math.RoundToEven(sec * inputFPS))
		if k < vlen {
			idx = append(idx, k)
		}
	}
	if maxN > 0 && len(idx) > maxN {
		idx = idx[:maxN]
	}
	return idx
}

// tsnIndices is stage-1 VideoMAE sampling (UMT.md §1.6): avg = vlen // T; frame k is
// k*avg + randint(0, avg) (exclusive upper bound), or 0 for every k when avg == 0.
func tsnIndices(T, vlen int, rng *rand.Rand) []int {
	avg := vlen / T
	idx := make([]int, T)
	if avg == 0 {
		return idx
	}
	for k := range idx {
		idx[k] = k*avg + rng.IntN(avg)
	}
	return idx
}

// grid maps sampler frame indices onto presentation time: the span is treated as vlen frames
// at an even rate, so index i is at spanStart + i*spanDur/vlen seconds (from the video start).
// For constant-frame-rate files this is exactly the time of frame i; for VFR files it is the
// time UMT's index would denote at the average rate, and the frame shown at that time is taken.
type grid struct {
	spanStart, spanDur float64
	vlen               int
}

func (g grid) time(i int) float64 {
	return g.spanStart + float64(i)*g.spanDur/float64(g.vlen)
}

// targetTimes turns a validated sampler into target times (seconds from the video start).
func targetTimes(s Sampler, cfg SampleConfig, g grid) []float64 {
	var idx []int
	switch s.Kind {
	case SamplerAt:
		ts := make([]float64, len(s.Times))
		for i, t := range s.Times {
			ts[i] = g.spanStart + t
		}
		return ts
	case SamplerRand, SamplerMiddle:
		idx = segmentIndices(s.Kind, cfg.Frames, g.vlen, newRNG(cfg.Seed))
	case SamplerSegment:
		idx = tsnIndices(cfg.Frames, g.vlen, newRNG(cfg.Seed))
	case SamplerFPS:
		maxN := cfg.Frames
		if maxN == 0 {
			maxN = MaxFrames
		}
		idx = fpsIndices(s.FPS, g.vlen, float64(g.vlen)/g.spanDur, maxN)
		if len(idx) == 0 { // a span shorter than half a slot still yields its first frame
			idx = []int{0}
		}
	}
	ts := make([]float64, len(idx))
	for i, k := range idx {
		ts[i] = g.time(k)
	}
	return ts
}
