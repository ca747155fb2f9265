package bert

import (
	"fmt"
	"math"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models"
)

// IgnoreIndex is the label of positions the MLM loss skips (CrossEntropyLoss's ignore_index).
const IgnoreIndex = -100

// MLMPass is the MLM head (cls.predictions: dense → GELU → LayerNorm → decoder tied to the word
// embeddings + cls.predictions.bias) and its cross-entropy, run only at the labelled positions:
// the loss is the mean over them, as CrossEntropyLoss(ignore_index=-100), and every other
// position gets zero gradient, so skipping the head there changes nothing but the work.
type MLMPass struct {
	m           *Model
	B, L, n     int
	groups      int     // the loss is the mean over groups of consecutive B/groups rows of each one's mean
	start       []int   // [groups+1] first labelled position of each group, then n
	labels      []int32 // labels at the n labelled positions, row-major order
	mem         arena
	rows, lbl   kernels.Buf // [n] int32: flat row b·L+l, flat logit index i·V+label
	x, h, ga, t kernels.Buf // [n, H]: gathered hidden, dense out, GELU out, LN out
	st          kernels.Buf // [2n]
	logits, p   kernels.Buf // [n, V]: logits, softmax (then dlogits after Backward)
	loss        float64
	dHidden     kernels.Buf // [B·L, H] after Backward
	done        bool
}

// Close frees the pass's buffers.
func (p *MLMPass) Close() { p.mem.free() }

// Loss is the mean cross-entropy over the labelled positions (0 when there are none, where
// PyTorch would give NaN; the gradient is then zero as well); with groups, the mean over the
// groups of each group's mean (a group without labels adds 0).
func (p *MLMPass) Loss() float64 { return p.loss }

// Count is the number of labelled positions.
func (p *MLMPass) Count() int { return p.n }

// MLM runs the head on hidden [B·L, H] (the fusion output) at every position whose label is not
// IgnoreIndex and computes the loss. labels [B·L] hold target ids or IgnoreIndex.
func (m *Model) MLM(hidden kernels.Buf, B, L int, labels []int32) (*MLMPass, error) {
	return m.MLMGroups(hidden, B, L, labels, 1)
}

// MLMGroups is MLM whose loss is the mean over `groups` consecutive blocks of B/groups rows of
// each block's own mean over its labelled positions: what data-parallel training optimises when
// every GPU takes the mean over its own masked tokens and DDP averages the GPUs' gradients.
// One group is MLM.
func (m *Model) MLMGroups(hidden kernels.Buf, B, L int, labels []int32, groups int) (*MLMPass, error) {
	c, be := m.Cfg, m.be
	H, V := c.Hidden, c.Vocab
	if B <= 0 || L <= 0 || hidden.Len() != B*L*H || len(labels) != B*L {
		return nil, fmt.Errorf("bert: MLM on %d×%d needs hidden [B·L, H] = %d values and %d labels (got %d, %d)", B, L, B*L*H, B*L, hidden.Len(), len(labels))
	}
	if groups <= 0 || B%groups != 0 {
		return nil, fmt.Errorf("bert: MLM groups %d do not split a batch of %d rows", groups, B)
	}
	p := &MLMPass{m: m, B: B, L: L, groups: groups, start: make([]int, groups+1), mem: arena{be: be}}
	span := B / groups * L // labels per group
	var rows, lbl []int32
	for i, y := range labels {
		if i%span == 0 {
			p.start[i/span] = len(rows)
		}
		if y == IgnoreIndex {
			continue
		}
		if y < 0 || int(y) >= V {
			return nil, fmt.Errorf("bert: MLM label %d at position %d is neither -100 nor a vocabulary id [0, %d)", y, i, V)
		}
		lbl = append(lbl, int32(len(rows)*V)+y)
		rows = append(rows, int32(i))
		p.labels = append(p.labels, y)
	}
	p.n = len(rows)
	p.start[groups] = p.n
	p.dHidden = p.mem.f32(B * L * H)
	if p.n == 0 {
		return p, nil
	}
	if int64(p.n)*int64(V) > math.MaxInt32 {
		p.Close()
		return nil, fmt.Errorf("bert: %d labelled positions × vocab %d exceed int32 logit indices; split the batch", p.n, V)
	}
	n, ix := p.n, m.ix
	p.rows, p.lbl = p.mem.index(n), p.mem.index(n)
	be.UploadIndex(p.rows, rows)
	be.UploadIndex(p.lbl, lbl)
	p.x, p.h, p.ga, p.t, p.st = p.mem.f32(n*H), p.mem.f32(n*H), p.mem.f32(n*H), p.mem.f32(n*H), p.mem.f32(2*n)
	p.logits, p.p = p.mem.f32(n*V), p.mem.f32(n*V)
	be.GatherRows(p.x, hidden, p.rows, H)
	models.Linear(be, p.h, p.x, m.pw(ix.clsW), m.pw(ix.clsB), n, H, H)
	be.GELU(p.ga, p.h)
	mean, rstd := stats(p.st, n)
	be.LayerNorm(p.t, p.ga, m.pw(ix.clsLnW), m.pw(ix.clsLnB), mean, rstd, n, H, float32(c.Eps))
	models.Linear(be, p.logits, p.t, m.pw(ix.word), m.pw(ix.clsBias), n, H, V) // decoder tied to the word table
	be.Softmax(p.p, p.logits, n, V)
	if err := p.crossEntropy(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// crossEntropy computes −mean log p[label] from the probabilities at the labels (one gathered
// value per row). A probability below 1e-30 has lost float32 precision (or underflowed), so that
// row's log-softmax is recomputed from its logits in float64 instead.
func (p *MLMPass) crossEntropy() error {
	be, V := p.m.be, p.m.Cfg.Vocab
	at := p.mem.f32(p.n)
	be.GatherRows(at, p.p, p.lbl, 1)
	pl := make([]float32, p.n)
	if err := be.Download(pl, at); err != nil {
		return err
	}
	var sum, mean float64 // sum of the group so far, mean over the groups so far
	g := 0
	for i, v := range pl {
		for p.groups > 1 && i == p.start[g+1] {
			mean, sum, g = p.closeGroup(mean, sum, g), 0, g+1
		}
		if v >= 1e-30 {
			sum -= math.Log(float64(v))
			continue
		}
		row := make([]float32, V)
		if err := be.Download(row, p.logits.Rows(i, 1, V)); err != nil {
			return err
		}
		mx := math.Inf(-1)
		for _, z := range row {
			mx = math.Max(mx, float64(z))
		}
		var s float64
		for _, z := range row {
			s += math.Exp(float64(z) - mx)
		}
		sum += mx + math.Log(s) - float64(row[p.labels[i]])
	}
	if p.groups == 1 {
		p.loss = sum / float64(p.n)
		return nil
	}
	for g < p.groups {
		mean, sum, g = p.closeGroup(mean, sum, g), 0, g+1
	}
	p.loss = mean / float64(p.groups)
	return nil
}

// closeGroup adds group g's mean (its loss sum over its labelled count; 0 without labels) to
// the running sum of group means.
func (p *MLMPass) closeGroup(means, sum float64, g int) float64 {
	if n := p.start[g+1] - p.start[g]; n > 0 {
		means += sum / float64(n)
	}
	return means
}

// Logits downloads the logits at the labelled positions [Count, Vocab] (row-major order of the
// positions).
func (p *MLMPass) Logits() ([]float32, error) {
	out := make([]float32, p.n*p.m.Cfg.Vocab)
	if p.n == 0 {
		return out, nil
	}
	return out, p.m.be.Download(out, p.logits)
}

// Backward adds the loss's gradient to the head's parameters and to the word embeddings (the
// tied decoder) and leaves the gradient with respect to the hidden input in DHidden [B·L, H]
// (zero at unlabelled positions). It runs once: the softmax buffer becomes dlogits.
func (p *MLMPass) Backward() error {
	m, be := p.m, p.m.be
	H, V, n, ix := m.Cfg.Hidden, m.Cfg.Vocab, p.n, m.ix
	if p.done {
		return fmt.Errorf("bert: MLM Backward ran twice on one pass (its softmax buffer became dlogits)")
	}
	p.done = true
	be.Fill(p.dHidden, 0)
	if n == 0 {
		return be.Sync()
	}
	// dlogits = (softmax − onehot(label)) / n, or / (groups · n_g) in group g
	one := p.mem.f32(n)
	be.Fill(one, -1)
	be.ScatterAddRows(p.p, one, p.lbl, 1)
	if p.groups == 1 {
		be.Scale(p.p, p.p, float32(1/float64(n)))
	}
	for g := 0; p.groups > 1 && g < p.groups; g++ {
		if k := p.start[g+1] - p.start[g]; k > 0 {
			blk := p.p.Rows(p.start[g], k, V)
			be.Scale(blk, blk, float32(1/float64(p.groups*k)))
		}
	}
	dT, dG := p.mem.f32(n*H), p.mem.f32(n*H)
	models.LinearGrad(be, dT, p.p, p.t, m.pw(ix.word), m.pg(ix.word), m.pg(ix.clsBias), n, H, V)
	mean, rstd := stats(p.st, n)
	be.LayerNormBackward(dG, m.pg(ix.clsLnW), m.pg(ix.clsLnB), dT, p.ga, m.pw(ix.clsLnW), mean, rstd, n, H)
	be.GELUBackward(dG, dG, p.h)
	models.LinearGrad(be, dT, dG, p.x, m.pw(ix.clsW), m.pg(ix.clsW), m.pg(ix.clsB), n, H, H)
	be.ScatterRows(p.dHidden, dT, p.rows, H)
	return be.Sync()
}

// DHidden is the gradient with respect to the head's input [B·L, H] after Backward.
func (p *MLMPass) DHidden() kernels.Buf { return p.dHidden }
