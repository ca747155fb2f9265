package optim

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// Hyper are AdamW's hyper-parameters (UMT stage 1: 0.9, 0.95, 1e-8, 0.05).
type Hyper struct {
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	WeightDecay float64 `json:"weight_decay"`
	ClipGrad    float64 `json:"clip_grad"` // global-norm clipping threshold; 0 = none (UMT)
}

// UMT is stage 1's setting.
var UMT = Hyper{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.05}

// Group is a contiguous range of the flat parameter buffer sharing one weight decay.
type Group struct {
	Off, Len int
	Decay    bool
}

// AdamW holds the moment buffers of a flat parameter vector on a backend.
type AdamW struct {
	H      Hyper
	Step   int // steps taken; the next Update is step Step+1
	be     kernels.Trainer
	m, v   kernels.Buf
	groups []Group
}

// NewAdamW allocates zeroed moments for n parameters split into groups.
func NewAdamW(be kernels.Trainer, n int, groups []Group, h Hyper) (*AdamW, error) {
	cover := 0
	for _, g := range groups {
		if g.Off != cover || g.Len < 0 {
			return nil, fmt.Errorf("optim: groups must tile [0, %d) in order; group at %d follows %d", n, g.Off, cover)
		}
		cover += g.Len
	}
	if cover != n {
		return nil, fmt.Errorf("optim: groups cover %d of %d parameters", cover, n)
	}
	return &AdamW{H: h, be: be, m: be.Alloc(n), v: be.Alloc(n), groups: groups}, nil
}

// Close frees the moments.
func (o *AdamW) Close() {
	if !o.m.IsZero() {
		o.be.Free(o.m)
		o.be.Free(o.v)
		o.m, o.v = kernels.Buf{}, kernels.Buf{}
	}
}

// ClipScale is the factor applied to the gradients for a global norm: min(1, max/(norm+1e-6))
// with clipping on, else 1.
func (o *AdamW) ClipScale(norm float64) float64 {
	if o.H.ClipGrad <= 0 {
		return 1
	}
	return min(1, o.H.ClipGrad/(norm+1e-6))
}

// Update applies one step with learning rate lr to params w using gradients g (flat, same
// layout), gradients multiplied by gradScale first.
func (o *AdamW) Update(w, g kernels.Buf, lr, gradScale float64) error {
	o.Step++
	for _, gr := range o.groups {
		if gr.Len == 0 {
			continue
		}
		wd := 0.0
		if gr.Decay {
			wd = o.H.WeightDecay
		}
		o.be.AdamW(kernels.AdamWStep{
			Param: w.View(gr.Off, gr.Len), Grad: g.View(gr.Off, gr.Len),
			M: o.m.View(gr.Off, gr.Len), V: o.v.View(gr.Off, gr.Len),
			LR: lr, WeightDecay: wd, Beta1: o.H.Beta1, Beta2: o.H.Beta2, Eps: o.H.Eps,
			Step: o.Step, GradScale: gradScale,
		})
	}
	return o.be.Sync()
}

// Moments downloads the first and second moments (for checkpoints).
func (o *AdamW) Moments() (m, v []float32, err error) {
	m, v = make([]float32, o.m.Len()), make([]float32, o.v.Len())
	if err := o.be.Download(m, o.m); err != nil {
		return nil, nil, err
	}
	return m, v, o.be.Download(v, o.v)
}

// SetMoments uploads moments and the step count (resuming from a checkpoint).
func (o *AdamW) SetMoments(m, v []float32, step int) error {
	if len(m) != o.m.Len() || len(v) != o.v.Len() {
		return fmt.Errorf("optim: checkpoint moments have %d/%d values, the model has %d parameters", len(m), len(v), o.m.Len())
	}
	o.be.Upload(o.m, m)
	o.be.Upload(o.v, v)
	o.Step = step
	return o.be.Sync()
}
