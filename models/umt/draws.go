package umt

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/internal/splitmix"
)

// Specials are the tokenizer ids the MLM masking reads.
type Specials struct{ Pad, CLS, Mask int32 }

// BertUncased are bert-base/large-uncased's [PAD], [CLS] and [MASK] ids.
var BertUncased = Specials{Pad: 0, CLS: 101, Mask: 103}

// MLMDraws are the random draws of one batch's MLM masking, each [B·L] over every position
// (criterions.py:285-306): Bernoulli(p) for masking, Bernoulli(0.8) for [MASK], Bernoulli(0.5)
// for a random word, and the random words, uniform in [0, vocab) (special ids included).
type MLMDraws struct {
	Masked, Replace, Random []bool
	RandomWords             []int32
}

// Draws are every random choice of one stage-2 step after the semantic mask: the MLM draws and
// the Exp(1) noise of VTM's two multinomials (a multinomial(w, 1) draw is argmax_j w_j / q_j
// with q ~ Exp(1), which is how torch samples it). Production draws them from a seeded stream
// (NewDraws); tests replay the official run's stored draws.
//
// Group splits the batch into consecutive groups of Group clips, the official run's per-GPU
// batches: each sample's VTM negatives are drawn within its own group, and each row of ExpT2V
// and ExpV2T holds the noise of its group's Group candidates, [B·Group] in all (the official
// ranks' [Group, Group] noise, stacked). Group 0 is the whole batch.
type Draws struct {
	MLM            MLMDraws
	Group          int
	ExpT2V, ExpV2T []float64
}

// DrawSizes are the sizes NewDraws draws for: B captions of L tokens over a vocabulary of
// Vocab ids, masked with probability MLMProb, with VTM groups of Group clips (0: the batch).
type DrawSizes struct {
	B, L, Vocab, Group int
	MLMProb            float64
}

// NewDraws draws a step's randomness from seed (derive it from the run seed and the step): the
// same seed gives the same draws on every machine, and Group B draws what Group 0 does.
func NewDraws(seed uint64, z DrawSizes) Draws {
	r := &splitmix.Source{State: seed ^ 0xbb67ae8584caa73b}
	B, G := z.B, z.Group
	if G == 0 {
		G = B
	}
	n := B * z.L
	d := Draws{Group: z.Group, MLM: MLMDraws{Masked: make([]bool, n), Replace: make([]bool, n), Random: make([]bool, n), RandomWords: make([]int32, n)}}
	for i := 0; i < n; i++ {
		d.MLM.Masked[i] = r.Float64() < z.MLMProb
	}
	for i := 0; i < n; i++ {
		d.MLM.Replace[i] = r.Float64() < 0.8
	}
	for i := 0; i < n; i++ {
		d.MLM.Random[i] = r.Float64() < 0.5
	}
	for i := 0; i < n; i++ {
		d.MLM.RandomWords[i] = int32(r.Below(uint64(z.Vocab)))
	}
	exp := func() float64 { return -math.Log((float64(r.Uint64()>>11) + 1) / (1 << 53)) }
	d.ExpT2V, d.ExpV2T = make([]float64, B*G), make([]float64, B*G)
	for i := range d.ExpT2V {
		d.ExpT2V[i] = exp()
	}
	for i := range d.ExpV2T {
		d.ExpV2T[i] = exp()
	}
	return d
}

// VTMGroup is the size of d's VTM groups in a batch of B clips, checked against B and the
// noise it holds.
func (d Draws) VTMGroup(B int) (int, error) {
	G := d.Group
	if G == 0 {
		G = B
	}
	if G < 0 || B <= 0 || G > B || B%G != 0 {
		return 0, fmt.Errorf("umt: VTM groups of %d clips do not split a batch of %d", d.Group, B)
	}
	if len(d.ExpT2V) != B*G || len(d.ExpV2T) != B*G {
		return 0, fmt.Errorf("umt: VTM noise of %d and %d values, want B·group = %d·%d = %d", len(d.ExpT2V), len(d.ExpV2T), B, G, B*G)
	}
	return G, nil
}

// MaskMLM is criterions.py's MLM mask: a position is masked when its draw says so and it is
// neither [PAD] nor [CLS]; masked positions become [MASK] where Replace, else a random word
// where Random, else stay; labels hold the original id at masked positions and −100 elsewhere.
func MaskMLM(ids []int32, d MLMDraws, sp Specials) (input, labels []int32, err error) {
	n := len(ids)
	if len(d.Masked) != n || len(d.Replace) != n || len(d.Random) != n || len(d.RandomWords) != n {
		return nil, nil, fmt.Errorf("umt: MLM draws of %d, %d, %d, %d values for %d ids", len(d.Masked), len(d.Replace), len(d.Random), len(d.RandomWords), n)
	}
	input, labels = make([]int32, n), make([]int32, n)
	for i, id := range ids {
		input[i], labels[i] = id, IgnoreIndex
		if !d.Masked[i] || id == sp.Pad || id == sp.CLS {
			continue
		}
		labels[i] = id
		switch {
		case d.Replace[i]:
			input[i] = sp.Mask
		case d.Random[i]:
			input[i] = d.RandomWords[i]
		}
	}
	return input, labels, nil
}

// IgnoreIndex is the label of unmasked positions.
const IgnoreIndex = -100

// Negatives are VTM's hard negatives of one batch with the weights they were drawn from.
type Negatives struct {
	WeightsT2V, WeightsV2T []float64 // [B, group]: row i over the columns of its own group
	Vision                 []int     // vision negative of each text, a batch position in its group
	Text                   []int     // text negative of each video, a batch position in its group
}

// HardNegatives draws VTM's negatives (criterions.py:111-128) from sim_v2t [B, B] (the VTC
// similarity at the clamped temp), each row within its group of d.Group clips as the official
// rank draws from its own batch: w = softmax over the row's group columns of sim + 1e-4
// (sim_t2v = simᵀ for the text side), entries with equal idx (the diagonal included) set to 0,
// NaN/inf set to 0.01; the vision negative of text i is argmax_j w_t2v[i, j] / q[i, j] with
// d.ExpT2V, then the text negative of video i from w_v2t and d.ExpV2T. A row without a
// candidate is an error, as torch.multinomial's.
func (d Draws) HardNegatives(sim []float64, idx []int64, B int) (Negatives, error) {
	G, err := d.VTMGroup(B)
	if err != nil {
		return Negatives{}, err
	}
	if len(sim) != B*B || (idx != nil && len(idx) != B) {
		return Negatives{}, fmt.Errorf("umt: hard negatives need sim [B, B] = %d and nil or B idx (got %d, %d)", B*B, len(sim), len(idx))
	}
	same := func(i, j int) bool { return i == j || idx != nil && idx[i] == idx[j] }
	// weights of row i over the columns o..o+G of its group; at(i, j) is the similarity.
	weights := func(at func(i, j int) float64) []float64 {
		w := make([]float64, B*G)
		row := make([]float64, G)
		for i := 0; i < B; i++ {
			o := i / G * G
			for j := range row {
				row[j] = at(i, o+j) + 1e-4
			}
			lse := logSumExp(row)
			for j := 0; j < G; j++ {
				v := math.Exp(row[j] - lse)
				if same(i, o+j) {
					v = 0
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					v = 0.01
				}
				w[i*G+j] = v
			}
		}
		return w
	}
	pick := func(w, q []float64, what string) ([]int, error) {
		out := make([]int, B)
		for i := 0; i < B; i++ {
			best, arg := -1.0, -1
			for j := 0; j < G; j++ {
				if w[i*G+j] <= 0 {
					continue
				}
				if k := w[i*G+j] / q[i*G+j]; k > best {
					best, arg = k, j
				}
			}
			if arg < 0 {
				return nil, fmt.Errorf("umt: VTM has no %s negative for row %d: every sample of its group of %d shares its idx", what, i, G)
			}
			out[i] = i/G*G + arg
		}
		return out, nil
	}
	n := Negatives{
		WeightsT2V: weights(func(i, j int) float64 { return sim[j*B+i] }),
		WeightsV2T: weights(func(i, j int) float64 { return sim[i*B+j] }),
	}
	if n.Vision, err = pick(n.WeightsT2V, d.ExpT2V, "vision"); err != nil {
		return Negatives{}, err
	}
	if n.Text, err = pick(n.WeightsV2T, d.ExpV2T, "text"); err != nil {
		return Negatives{}, err
	}
	return n, nil
}
