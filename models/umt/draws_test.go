package umt

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestMaskMLMNeverMasksPadOrCLS: over many seeded draws, [PAD] and [CLS] keep their id and
// label −100; every other labelled position carries its original id; unlabelled positions
// keep theirs; masked positions are [MASK], a random word or unchanged as the draws say; and
// the masked fraction of maskable tokens is near the probability.
func TestMaskMLMNeverMasksPadOrCLS(t *testing.T) {
	const B, L, V = 8, 32, 30522
	ids := make([]int32, B*L)
	r := rand.New(rand.NewPCG(1, 2))
	for b := 0; b < B; b++ {
		n := 1 + r.IntN(L-1)
		ids[b*L] = BertUncased.CLS
		for l := 1; l < L; l++ {
			if l < n {
				ids[b*L+l] = int32(1000 + r.IntN(20000))
			} else {
				ids[b*L+l] = BertUncased.Pad
			}
		}
	}
	masked, maskable := 0, 0
	for seed := uint64(0); seed < 50; seed++ {
		d := NewDraws(seed, B, L, V, 0.5)
		in, lab, err := MaskMLM(ids, d.MLM, BertUncased)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			special := id == BertUncased.Pad || id == BertUncased.CLS
			if !special {
				maskable++
			}
			switch {
			case special && (lab[i] != IgnoreIndex || in[i] != id):
				t.Fatalf("seed %d: special id %d at %d became %d with label %d", seed, id, i, in[i], lab[i])
			case lab[i] == IgnoreIndex && in[i] != id:
				t.Fatalf("seed %d: unlabelled position %d changed %d → %d", seed, i, id, in[i])
			case lab[i] != IgnoreIndex:
				masked++
				want := id
				if d.MLM.Replace[i] {
					want = BertUncased.Mask
				} else if d.MLM.Random[i] {
					want = d.MLM.RandomWords[i]
				}
				if lab[i] != id || in[i] != want {
					t.Fatalf("seed %d: masked position %d: input %d label %d, want %d and %d", seed, i, in[i], lab[i], want, id)
				}
			}
		}
	}
	if f := float64(masked) / float64(maskable); math.Abs(f-0.5) > 0.03 {
		t.Errorf("masked fraction %.3f, want about 0.5", f)
	}
	if !reflect.DeepEqual(NewDraws(7, B, L, V, 0.5), NewDraws(7, B, L, V, 0.5)) {
		t.Error("the same seed gave different draws")
	}
}

// TestHardNegativesNeverShareIdx: a negative never has the row's idx (the diagonal included),
// the weights are row softmaxes with those entries zeroed, and a row whose every candidate
// shares its idx is an error, as torch.multinomial's.
func TestHardNegativesNeverShareIdx(t *testing.T) {
	const B = 6
	r := rand.New(rand.NewPCG(3, 4))
	idx := []int64{1, 2, 1, 3, 2, 4}
	for trial := 0; trial < 200; trial++ {
		sim := make([]float64, B*B)
		q1, q2 := make([]float64, B*B), make([]float64, B*B)
		for i := range sim {
			sim[i], q1[i], q2[i] = 10*r.NormFloat64(), r.ExpFloat64(), r.ExpFloat64()
		}
		n, err := HardNegatives(sim, idx, B, q1, q2)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < B; i++ {
			if idx[n.Vision[i]] == idx[i] || idx[n.Text[i]] == idx[i] {
				t.Fatalf("row %d (idx %d) got negatives %d and %d of the same idx", i, idx[i], n.Vision[i], n.Text[i])
			}
			var s float64
			for j := 0; j < B; j++ {
				s += n.WeightsV2T[i*B+j]
				if idx[j] == idx[i] && n.WeightsV2T[i*B+j] != 0 {
					t.Fatalf("weight of a positive is %v", n.WeightsV2T[i*B+j])
				}
			}
			if s > 1+1e-12 {
				t.Fatalf("row %d weights sum to %v > 1", i, s)
			}
		}
	}
	one := make([]float64, 4)
	if _, err := HardNegatives(one, []int64{5, 5}, 2, one, one); err == nil {
		t.Error("a batch whose samples all share one idx gave negatives")
	}
}
