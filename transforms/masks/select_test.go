package masks

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func randomAttn(r *rand.Rand, n int) []float32 {
	a := make([]float32, n)
	for i := range a {
		a[i] = r.Float32() + 1e-3
	}
	return a
}

// TestSelectVisibleStoresTheUnionOfItsMasks: layout visible:M stores exactly the union of its M
// masks, each mask has V visible tokens per frame, and the draw depends only on (seed, clip).
func TestSelectVisibleStoresTheUnionOfItsMasks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ T, HW, M int }{{1, 16, 1}, {2, 16, 3}, {8, 49, 2}} {
		s := Selector{Frames: tc.T, HW: tc.HW, Masks: tc.M, Ratio: 0.8, Seed: 7}
		attn := randomAttn(r, tc.T*tc.HW)
		sel, err := s.Select("clip-a", attn)
		if err != nil {
			t.Fatal(err)
		}
		V := VisibleCount(tc.HW, 0.8)
		if len(sel.Masks) != tc.M*tc.T*V {
			t.Fatalf("%+v: %d mask indices, want M·T·V = %d", tc, len(sel.Masks), tc.M*tc.T*V)
		}
		union := map[int]bool{}
		for _, m := range sel.Masks {
			union[int(m)] = true
		}
		want := make([]int, 0, len(union))
		for k := range union {
			want = append(want, k)
		}
		slices.Sort(want)
		if !slices.Equal(sel.Tokens, want) {
			t.Fatalf("%+v: tokens %v are not the union of the masks %v", tc, sel.Tokens, want)
		}
		again, _ := s.Select("clip-a", attn)
		if !slices.Equal(again.Tokens, sel.Tokens) || !slices.Equal(again.Masks, sel.Masks) {
			t.Fatalf("%+v: the same clip and seed drew different masks", tc)
		}
		other, _ := s.Select("clip-b", attn)
		if slices.Equal(other.Masks, sel.Masks) {
			t.Fatalf("%+v: two clips drew the same masks", tc)
		}
	}
}

// TestSelectFullStoresEveryToken and Gather copies each layer's selected rows of the right clip.
func TestSelectFullStoresEveryTokenAndGatherPicksTheClip(t *testing.T) {
	const T, HW, K, B, D = 2, 4, 3, 2, 5
	s := Selector{Frames: T, HW: HW}
	sel, err := s.Select("x", make([]float32, T*HW))
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Tokens) != T*HW || sel.Masks != nil {
		t.Fatalf("full layout selected %v (masks %v)", sel.Tokens, sel.Masks)
	}
	f := Features{Data: make([]float32, K*B*T*HW*D), Layers: K, Clips: B, Tokens: T * HW, Dim: D}
	for i := range f.Data {
		f.Data[i] = float32(i)
	}
	part := Selection{Tokens: []int{1, 6}}
	got, err := part.Gather(f, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for k := 0; k < K; k++ {
		for _, tok := range part.Tokens {
			for d := 0; d < D; d++ {
				want = append(want, float32(((k*B+1)*T*HW+tok)*D+d))
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Gather = %v, want %v", got, want)
	}
	if _, err := part.Gather(f, B); err == nil {
		t.Fatal("Gather of a clip outside the batch must fail")
	}
	if _, err := (Selection{Tokens: []int{T * HW}}).Gather(f, 0); err == nil {
		t.Fatal("Gather of a token outside the clip must fail")
	}
	if _, err := s.Select("x", make([]float32, 3)); err == nil {
		t.Fatal("Select with attention of the wrong size must fail")
	}
}
