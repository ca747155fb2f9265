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
// the Exp(1) noise of VTM's two multinomials, [B·B] each (a multinomial(w, 1) draw is
// argmax_j w_j / q_j with q ~ Exp(1), which is how torch samples it). Production draws them
// from a seeded stream (NewDraws); tests replay the official run's stored draws.
type Draws struct {
	MLM            MLMDraws
	ExpT2V, ExpV2T []float64
}

// NewDraws draws a step's randomness for B captions of L tokens from seed (derive it from the
// run seed and the step): the same seed gives the same draws on every machine.
func NewDraws(seed uint64, B, L, vocab int, mlmProb float64) Draws {
	r := &splitmix.Source{State: seed ^ 0xbb67ae8584caa73b}
	n := B * L
	d := Draws{MLM: MLMDraws{Masked: make([]bool, n), Replace: make([]bool, n), Random: make([]bool, n), RandomWords: make([]int32, n)}}
	for i := 0; i < n; i++ {
		d.MLM.Masked[i] = r.Float64() < mlmProb
	}
	for i := 0; i < n; i++ {
		d.MLM.Replace[i] = r.Float64() < 0.8
	}
	for i := 0; i < n; i++ {
		d.MLM.Random[i] = r.Float64() < 0.5
	}
	for i := 0; i < n; i++ {
		d.MLM.RandomWords[i] = int32(r.Below(uint64(vocab)))
	}
	exp := func() float64 { return -math.Log((float64(r.Uint64()>>11) + 1) / (1 << 53)) }
	d.ExpT2V, d.ExpV2T = make([]float64, B*B), make([]float64, B*B)
	for i := range d.ExpT2V {
		d.ExpT2V[i] = exp()
	}
	for i := range d.ExpV2T {
		d.ExpV2T[i] = exp()
	}
	return d
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
	WeightsT2V, WeightsV2T []float64 // [B, B]
	Vision                 []int     // vision negative of each text
	Text                   []int     // text negative of each video
}

// HardNegatives draws VTM's negatives (criterions.py:111-128) from sim_v2t [B, B] (the VTC
// similarity at the clamped temp): w = softmax over each row of sim + 1e-4 (sim_t2v = simᵀ for
// the text side), entries with equal idx (the diagonal included) set to 0, NaN/inf set to 0.01;
// the vision negative of text i is argmax_j w_t2v[i, j] / qT2V[i, j], then the text negative of
// video i from w_v2t and qV2T. A row without a candidate is an error, as torch.multinomial's.
func HardNegatives(sim []float64, idx []int64, B int, qT2V, qV2T []float64) (Negatives, error) {
	if len(sim) != B*B || len(qT2V) != B*B || len(qV2T) != B*B || (idx != nil && len(idx) != B) {
		return Negatives{}, fmt.Errorf("umt: hard negatives need sim, noise [B, B] = %d and nil or B idx (got %d, %d, %d, %d)", B*B, len(sim), len(qT2V), len(qV2T), len(idx))
	}
	same := func(i, j int) bool { return i == j || idx != nil && idx[i] == idx[j] }
	weights := func(s []float64) []float64 {
		w := make([]float64, B*B)
		for i := 0; i < B; i++ {
			row := make([]float64, B)
			for j := range row {
				row[j] = s[i*B+j] + 1e-4
			}
			lse := logSumExp(row)
			for j := 0; j < B; j++ {
				v := math.Exp(row[j] - lse)
				if same(i, j) {
					v = 0
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					v = 0.01
				}
				w[i*B+j] = v
			}
		}
		return w
	}
	pick := func(w, q []float64, what string) ([]int, error) {
		out := make([]int, B)
		for i := 0; i < B; i++ {
			best, arg := -1.0, -1
			for j := 0; j < B; j++ {
				if w[i*B+j] <= 0 {
					continue
				}
				if k := w[i*B+j] / q[i*B+j]; k > best {
					best, arg = k, j
				}
			}
			if arg < 0 {
				return nil, fmt.Errorf("umt: VTM has no %s negative for row %d: every sample of the batch shares its idx", what, i)
			}
			out[i] = arg
		}
		return out, nil
	}
	n := Negatives{WeightsT2V: weights(transpose(sim, B)), WeightsV2T: weights(sim)}
	var err error
	if n.Vision, err = pick(n.WeightsT2V, qT2V, "vision"); err != nil {
		return Negatives{}, err
	}
	if n.Text, err = pick(n.WeightsV2T, qV2T, "text"); err != nil {
		return Negatives{}, err
	}
	return n, nil
}
