package umt

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
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
		d := NewDraws(seed, DrawSizes{B: B, L: L, Vocab: V, MLMProb: 0.5})
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
	if !reflect.DeepEqual(NewDraws(7, DrawSizes{B: B, L: L, Vocab: V, MLMProb: 0.5}), NewDraws(7, DrawSizes{B: B, L: L, Vocab: V, MLMProb: 0.5})) {
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
		n, err := Draws{ExpT2V: q1, ExpV2T: q2}.HardNegatives(sim, idx, B)
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
	if _, err := (Draws{ExpT2V: one, ExpV2T: one}).HardNegatives(one, []int64{5, 5}, 2); err == nil {
		t.Error("a batch whose samples all share one idx gave negatives")
	}
}

// randomVTM is a random similarity [B, B] at VTC's scale, idx with collisions and noise for
// groups of G clips.
func randomVTM(r *rand.Rand, B, G int) (sim []float64, idx []int64, d Draws) {
	sim, idx = make([]float64, B*B), make([]int64, B)
	for i := range sim {
		sim[i] = 10 * r.NormFloat64()
	}
	for i := range idx {
		idx[i] = int64(r.IntN(B))
	}
	d = Draws{Group: G, ExpT2V: make([]float64, B*G), ExpV2T: make([]float64, B*G)}
	for i := range d.ExpT2V {
		d.ExpT2V[i], d.ExpV2T[i] = r.ExpFloat64(), r.ExpFloat64()
	}
	return sim, idx, d
}

// TestGroupedNegativesStayInTheirGroup: with the batch split into groups (the official
// per-GPU batches), every sample's vision and text negative lies in its own group and never
// shares its idx, and each row's weights cover its group's columns only, summing to at most 1.
func TestGroupedNegativesStayInTheirGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, bg := range [][2]int{{12, 3}, {12, 4}, {12, 6}, {16, 2}, {16, 8}} {
		B, G := bg[0], bg[1]
		seen := 0
		for trial := 0; trial < 100; trial++ {
			sim, idx, d := randomVTM(r, B, G)
			n, err := d.HardNegatives(sim, idx, B)
			if err != nil {
				continue // a group whose every sample shares one idx
			}
			seen++
			if len(n.WeightsT2V) != B*G || len(n.WeightsV2T) != B*G {
				t.Fatalf("B %d G %d: weights of %d and %d values, want %d", B, G, len(n.WeightsT2V), len(n.WeightsV2T), B*G)
			}
			for i := 0; i < B; i++ {
				for what, j := range map[string]int{"vision": n.Vision[i], "text": n.Text[i]} {
					if j/G != i/G || idx[j] == idx[i] {
						t.Fatalf("B %d G %d: row %d (group %d, idx %d) got %s negative %d (group %d, idx %d)", B, G, i, i/G, idx[i], what, j, j/G, idx[j])
					}
				}
				var s float64
				for _, w := range n.WeightsV2T[i*G : (i+1)*G] {
					s += w
				}
				if s > 1+1e-12 {
					t.Fatalf("B %d G %d: row %d weights sum to %v > 1", B, G, i, s)
				}
			}
		}
		if seen < 50 {
			t.Fatalf("B %d G %d: only %d of 100 random batches had a negative in every group", B, G, seen)
		}
	}
}

// TestGroupedNegativesEqualEachRanksOwnDraw: the grouped draw is, group by group, the
// ungrouped draw on the group's own block of sim, idx and noise (what one official rank
// computes from its local batch), shifted to batch positions, weights included, bit for bit.
func TestGroupedNegativesEqualEachRanksOwnDraw(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const B, G = 12, 4
	for trial := 0; trial < 50; trial++ {
		sim, idx, d := randomVTM(r, B, G)
		for i := range idx {
			idx[i] = int64(i) // every group has candidates
		}
		n, err := d.HardNegatives(sim, idx, B)
		if err != nil {
			t.Fatal(err)
		}
		for g := 0; g < B/G; g++ {
			o := g * G
			block := make([]float64, G*G)
			for i := 0; i < G; i++ {
				copy(block[i*G:(i+1)*G], sim[(o+i)*B+o:(o+i)*B+o+G])
			}
			local := Draws{ExpT2V: d.ExpT2V[o*G : (o+G)*G], ExpV2T: d.ExpV2T[o*G : (o+G)*G]}
			want, err := local.HardNegatives(block, idx[o:o+G], G)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < G; i++ {
				if n.Vision[o+i] != o+want.Vision[i] || n.Text[o+i] != o+want.Text[i] {
					t.Fatalf("group %d row %d: negatives %d, %d; the rank's own draw %d, %d (+%d)", g, i, n.Vision[o+i], n.Text[o+i], want.Vision[i], want.Text[i], o)
				}
			}
			if !slices.Equal(n.WeightsT2V[o*G:(o+G)*G], want.WeightsT2V) || !slices.Equal(n.WeightsV2T[o*G:(o+G)*G], want.WeightsV2T) {
				t.Fatalf("group %d: weights differ from the rank's own", g)
			}
		}
	}
}

// TestWholeBatchGroupIsTheUngroupedDraw: Group B draws the same noise as Group 0 (the whole
// batch) from a seed, and the same negatives and weights bit for bit; groups that do not split
// the batch, or noise of another size, are errors.
func TestWholeBatchGroupIsTheUngroupedDraw(t *testing.T) {
	const B, L, V = 8, 6, 50
	z := DrawSizes{B: B, L: L, Vocab: V, MLMProb: 0.5}
	whole := z
	whole.Group = B
	d0, dB := NewDraws(11, z), NewDraws(11, whole)
	if !reflect.DeepEqual(d0.MLM, dB.MLM) || !slices.Equal(d0.ExpT2V, dB.ExpT2V) || !slices.Equal(d0.ExpV2T, dB.ExpV2T) || len(d0.ExpT2V) != B*B {
		t.Fatal("group B drew other values than the whole batch")
	}
	r := rand.New(rand.NewPCG(9, 10))
	sim, idx, _ := randomVTM(r, B, B)
	n0, err0 := d0.HardNegatives(sim, idx, B)
	nB, errB := dB.HardNegatives(sim, idx, B)
	if err0 != nil || errB != nil || !reflect.DeepEqual(n0, nB) {
		t.Fatalf("group B %+v (%v) differs from the whole batch %+v (%v)", nB, errB, n0, err0)
	}
	grouped := z
	grouped.Group = 4
	if d := NewDraws(11, grouped); len(d.ExpT2V) != B*4 || len(d.ExpV2T) != B*4 {
		t.Fatalf("groups of 4: noise of %d and %d values, want %d", len(d.ExpT2V), len(d.ExpV2T), B*4)
	}
	for _, bad := range []Draws{{Group: 3, ExpT2V: d0.ExpT2V[:B*3], ExpV2T: d0.ExpV2T[:B*3]}, {Group: 2, ExpT2V: d0.ExpT2V, ExpV2T: d0.ExpV2T}, {Group: 16}} {
		if _, err := bad.HardNegatives(sim, idx, B); err == nil {
			t.Errorf("group %d with %d noise values in a batch of %d gave negatives", bad.Group, len(bad.ExpT2V), B)
		}
	}
}
