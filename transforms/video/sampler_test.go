package video

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// Hand-derived cases for UMT's get_frame_indices (dataset/video_utils.py) and VideoMAE TSN.
func TestSegmentIndicesGolden(t *testing.T) {
	cases := []struct {
		kind    string
		T, vlen int
		want    []int
	}{
		// edges = linspace(0,100,9).astype(int) = 0,12,25,37,50,62,75,87,100; middle=(a+b)//2, b=next-1
		{"middle", 8, 100, []int{5, 18, 30, 43, 55, 68, 80, 93}},
		// fewer frames than T: one per frame, then the last repeated
		{"middle", 8, 5, []int{0, 1, 2, 3, 4, 4, 4, 4}},
		{"middle", 1, 10, []int{4}},
		// segments of 2 frames: random.choice(range(a, a+1)) can only return a (UMT.md §9.9)
		{"rand", 8, 16, []int{0, 2, 4, 6, 8, 10, 12, 14}},
		// segments of 1 frame: the exception path, sorted(permutation(8)[:8])
		{"rand", 8, 8, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"rand", 8, 3, []int{0, 1, 2, 2, 2, 2, 2, 2}},
	}
	for _, c := range cases {
		for seed := uint64(0); seed < 5; seed++ {
			got := segmentIndices(c.kind, c.T, c.vlen, newRNG(seed))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s T=%d vlen=%d seed=%d: got %v, want %v", c.kind, c.T, c.vlen, seed, got, c.want)
			}
		}
	}
}

// Property: rand draws from [edges[i], edges[i+1]-2] when every segment has ≥ 2 frames,
// otherwise n distinct sorted indices; always T indices, non-decreasing, < vlen; the draws
// cover every allowed value of a segment over many seeds.
func TestRandIndicesProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 2000; iter++ {
		T := 1 + r.IntN(16)
		vlen := 1 + r.IntN(200)
		got := segmentIndices("rand", T, vlen, newRNG(r.Uint64()))
		if len(got) != T || !sort.IntsAreSorted(got) || got[len(got)-1] >= vlen || got[0] < 0 {
			t.Fatalf("T=%d vlen=%d: %v", T, vlen, got)
		}
		n := min(T, vlen)
		edges := linspaceInt(vlen, n)
		short := false
		for i := 0; i < n; i++ {
			short = short || edges[i+1]-1 <= edges[i]
		}
		for i := 0; i < n && !short; i++ {
			if got[i] < edges[i] || got[i] > edges[i+1]-2 {
				t.Fatalf("T=%d vlen=%d: index %d = %d outside [%d, %d]", T, vlen, i, got[i], edges[i], edges[i+1]-2)
			}
		}
		if short {
			for i := 1; i < n; i++ {
				if got[i] == got[i-1] {
					t.Fatalf("fallback T=%d vlen=%d gave duplicates %v", T, vlen, got)
				}
			}
		}
	}
	seen := map[int]bool{}
	for seed := uint64(0); seed < 400; seed++ {
		seen[segmentIndices("rand", 4, 40, newRNG(seed))[1]] = true // segment [10, 19] → draws 10..18
	}
	for v := 10; v <= 18; v++ {
		if !seen[v] {
			t.Errorf("rand never drew %d from segment [10, 18] in 400 seeds", v)
		}
	}
	if seen[19] {
		t.Errorf("rand drew the last frame of a segment (UMT never does)")
	}
}

func TestFPSIndicesGolden(t *testing.T) {
	cases := []struct {
		x    float64
		vlen int
		fps  float64
		maxN int
		want []int
	}{
		// secs = 0.5,1.5,2.5,3.5 → ×25 = 12.5, 37.5, 62.5, 87.5 → numpy rounds half to even
		{1, 100, 25, 0, []int{12, 38, 62, 88}},
		{0.5, 300, 30, 0, []int{30, 90, 150, 210, 270}},
		{1, 300, 30, 3, []int{15, 45, 75}},
		// a 0.2 s clip at fps1: secs = [0.5] → idx 12 ≥ vlen 5 → dropped
		{1, 5, 25, 0, nil},
	}
	for _, c := range cases {
		got := fpsIndices(c.x, c.vlen, c.fps, c.maxN)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("fps%g vlen=%d fps=%g max=%d: got %v, want %v", c.x, c.vlen, c.fps, c.maxN, got, c.want)
		}
	}
}

func TestTSNIndices(t *testing.T) {
	if got := tsnIndices(8, 5, newRNG(1)); !reflect.DeepEqual(got, make([]int, 8)) {
		t.Errorf("vlen < T: got %v, want all zero", got)
	}
	for seed := uint64(0); seed < 50; seed++ {
		got := tsnIndices(8, 100, newRNG(seed)) // avg 12: frame k in [12k, 12k+11]
		for k, v := range got {
			if v < 12*k || v > 12*k+11 {
				t.Fatalf("seed %d: index %d = %d outside [%d, %d]", seed, k, v, 12*k, 12*k+11)
			}
		}
	}
}

func TestSeedReproducible(t *testing.T) {
	a, b := SeedFor("clip-000123"), SeedFor("clip-000123")
	if a != b || a == SeedFor("clip-000124") {
		t.Fatalf("SeedFor not a stable function of the id: %x %x %x", a, b, SeedFor("clip-000124"))
	}
	cfg := DefaultSampleConfig()
	cfg.Sampler, cfg.Seed = "rand", a
	s, _ := cfg.Validate()
	g := grid{spanDur: 10, vlen: 300}
	x, y := targetTimes(s, cfg, g), targetTimes(s, cfg, g)
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("same seed, different frames: %v vs %v", x, y)
	}
	cfg.Seed++
	if reflect.DeepEqual(x, targetTimes(s, cfg, g)) {
		t.Errorf("different seeds gave identical rand frames %v", x)
	}
}

// Index → time: index i of a vlen-frame span is at start + i·dur/vlen; for a 25 fps,
// 100-frame clip, middle frame indices land exactly on those frames' times.
func TestGridTimes(t *testing.T) {
	cfg := DefaultSampleConfig()
	s, _ := cfg.Validate()
	got := targetTimes(s, cfg, grid{spanStart: 0, spanDur: 4, vlen: 100})
	want := []float64{0.2, 0.72, 1.2, 1.72, 2.2, 2.72, 3.2, 3.72}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("times %v, want %v", got, want)
		}
	}
	cfg.Sampler = "at:0.5,0"
	s, _ = cfg.Validate()
	if got := targetTimes(s, cfg, grid{spanStart: 2}); !reflect.DeepEqual(got, []float64{2.5, 2}) {
		t.Errorf("at: with span start 2: %v", got)
	}
}

func TestParseSampler(t *testing.T) {
	good := map[string]Sampler{
		"rand":        {Kind: "rand"},
		"middle":      {Kind: "middle"},
		"segment":     {Kind: "segment"},
		"fps1":        {Kind: "fps", FPS: 1},
		"fps0.5":      {Kind: "fps", FPS: 0.5},
		"at:0":        {Kind: "at", Times: []float64{0}},
		"at:1.5, 0.2": {Kind: "at", Times: []float64{1.5, 0.2}},
	}
	for in, want := range good {
		got, err := ParseSampler(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSampler(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if _, err := ParseSampler(got.String()); err != nil {
			t.Errorf("String() of %q does not parse back: %v", in, err)
		}
	}
	for _, in := range []string{"", "Rand", "fps", "fps0", "fps-1", "fpsNaN", "fpsInf", "fps1e9", "at:", "at:-1", "at:x", "at:1,,2", "uniform"} {
		if _, err := ParseSampler(in); !errors.Is(err, ErrBadConfig) {
			t.Errorf("ParseSampler(%q): err %v, want ErrBadConfig", in, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultSampleConfig()
	if _, err := ok.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	bad := []func(*SampleConfig){
		func(c *SampleConfig) { c.Frames = 0 },
		func(c *SampleConfig) { c.Frames = MaxFrames + 1 },
		func(c *SampleConfig) { c.Size = 4 },
		func(c *SampleConfig) { c.Interp = "cubic" },
		func(c *SampleConfig) { c.Start, c.End = 5, 2 },
		func(c *SampleConfig) { c.Start = -1 },
		func(c *SampleConfig) { c.OnMissing = "skip" },
		func(c *SampleConfig) { c.Seek = "sometimes" },
		func(c *SampleConfig) { c.Threads = -1 },
	}
	for i, mut := range bad {
		c := DefaultSampleConfig()
		mut(&c)
		if _, err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("case %d: %+v validated (err %v)", i, c, err)
		}
	}
}

func FuzzParseSampler(f *testing.F) {
	for _, s := range []string{"rand", "middle", "fps0.5", "at:1,2.5", "at:", "fps", "segment", "at:1e308,0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		smp, err := ParseSampler(s)
		if err != nil {
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("%q: unclassified error %v", s, err)
			}
			return
		}
		if _, err := ParseSampler(smp.String()); err != nil {
			t.Fatalf("%q parsed to %+v whose String %q does not parse: %v", s, smp, smp.String(), err)
		}
	})
}
