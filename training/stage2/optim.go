package stage2

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/multimodal"
	"github.com/umt-dev/umt/training/optim"
)

// AdamW is the official stage-2 setting (exp/pretraining/*.py): betas (0.9, 0.999), eps 1e-8,
// weight decay 0.02, no clipping.
var AdamW = optim.Hyper{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.02}

// span is one tensor of a part's flat buffer as the grouping sees it.
type span struct {
	Decay    bool
	Off, Len int
}

// groups turns a part's tensors (decayed ones first, as every part lays them out) into the
// optimiser's two contiguous groups.
func groups(ps []span, n int) ([]optim.Group, error) {
	decay := 0
	for _, p := range ps {
		if p.Decay {
			decay += p.Len
		}
	}
	for _, p := range ps {
		if p.Decay != (p.Off < decay) || p.Off+p.Len > n {
			return nil, fmt.Errorf("stage2: tensor at %d (+%d, decay %v) breaks the decayed-first layout of %d values", p.Off, p.Len, p.Decay, n)
		}
	}
	return []optim.Group{{Off: 0, Len: decay, Decay: true}, {Off: decay, Len: n - decay}}, nil
}

// part is one of the model's flat buffers with its optimiser.
type part struct {
	w, g kernels.Buf
	opt  *optim.AdamW
}

// Optimizer is AdamW over the three parts of a multimodal model (vision encoder, text
// encoder, heads) with utils/optimizer.py's grouping: no weight decay for 1-D tensors and
// names ending in ".bias", decay for everything else, the 0-d temp included (UMT.md §9.7).
type Optimizer struct {
	parts []part
}

// NewOptimizer allocates zeroed moments for every parameter of m.
func NewOptimizer(m *multimodal.Model, h optim.Hyper) (*Optimizer, error) {
	var vs, ts, hs []span
	for _, p := range m.Vision.Params() {
		vs = append(vs, span{p.Decay, p.Off, p.Len})
	}
	for _, p := range m.Text.Params() {
		ts = append(ts, span{p.Decay, p.Off, p.Len})
	}
	for _, p := range m.HeadParamList() {
		hs = append(hs, span{p.Decay, p.Off, p.Len})
	}
	be := m.Vision.Backend()
	o := &Optimizer{}
	for _, x := range []struct {
		spans []span
		w, g  kernels.Buf
	}{{vs, m.Vision.Weights(), m.Vision.Grads()}, {ts, m.Text.Weights(), m.Text.Grads()}, {hs, m.HeadWeights(), m.HeadGrads()}} {
		gs, err := groups(x.spans, x.w.Len())
		if err == nil {
			var opt *optim.AdamW
			if opt, err = optim.NewAdamW(be, x.w.Len(), gs, h); err == nil {
				o.parts = append(o.parts, part{w: x.w, g: x.g, opt: opt})
				continue
			}
		}
		o.Close()
		return nil, err
	}
	return o, nil
}

// Update applies one AdamW step at learning rate lr to every parameter from its gradient.
func (o *Optimizer) Update(lr float64) error {
	for _, p := range o.parts {
		if err := p.opt.Update(p.w, p.g, lr, 1); err != nil {
			return err
		}
	}
	return nil
}

// Steps is the number of updates taken.
func (o *Optimizer) Steps() int {
	if len(o.parts) == 0 {
		return 0
	}
	return o.parts[0].opt.Step
}

// Close frees the moments.
func (o *Optimizer) Close() {
	for _, p := range o.parts {
		p.opt.Close()
	}
	o.parts = nil
}
