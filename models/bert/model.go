package bert

import (
	"fmt"

	"github.com/umt-dev/umt/kernels"
)

// Model is the text/fusion encoder with its MLM head on one backend: parameters and their
// gradients in two flat allocations (layout order). Activations live in the passes (Text,
// Fusion, MLM), one per call, so a stage-2 step can keep the text pass of the unmasked
// captions, the fusion pass of the VTM batch and the masked text, fusion and MLM passes of the
// MLM loss alive together and back-propagate each.
type Model struct {
	Cfg    Config
	be     kernels.Trainer
	params []Param
	ix     index
	w, g   kernels.Buf
}

// New allocates a model with the given flat parameters (layout order, e.g. from InitParams or
// ParamsFromState).
func New(be kernels.Trainer, cfg Config, flat []float32) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ps := layout(cfg)
	ix, err := buildIndex(cfg, ps)
	if err != nil {
		return nil, err
	}
	if len(flat) != cfg.NumParams() {
		return nil, fmt.Errorf("bert: %d parameter values for a config with %d", len(flat), cfg.NumParams())
	}
	m := &Model{Cfg: cfg, be: be, params: ps, ix: ix}
	m.w = be.Alloc(len(flat))
	m.g = be.Alloc(len(flat))
	be.Upload(m.w, flat)
	if err := be.Sync(); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close frees the parameters and gradients. Passes hold their own buffers: close them first.
func (m *Model) Close() {
	for _, b := range []*kernels.Buf{&m.w, &m.g} {
		if !b.IsZero() {
			m.be.Free(*b)
			*b = kernels.Buf{}
		}
	}
}

// Backend is the backend the model runs on.
func (m *Model) Backend() kernels.Trainer { return m.be }

// Params lists the tensors in official order with their offsets in the flat buffers.
func (m *Model) Params() []Param { return m.params }

// Weights is the flat parameter buffer.
func (m *Model) Weights() kernels.Buf { return m.w }

// Grads is the flat gradient buffer (same layout as Weights).
func (m *Model) Grads() kernels.Buf { return m.g }

// ZeroGrads clears the gradients; every backward adds to them.
func (m *Model) ZeroGrads() { m.be.Fill(m.g, 0) }

// Download copies the flat parameters to the host.
func (m *Model) Download() ([]float32, error) {
	out := make([]float32, m.w.Len())
	return out, m.be.Download(out, m.w)
}

// DownloadGrads copies the flat gradients to the host.
func (m *Model) DownloadGrads() ([]float32, error) {
	out := make([]float32, m.g.Len())
	return out, m.be.Download(out, m.g)
}

// pw and pg are parameter i's weights and gradients; pwn and pgn span n elements from
// parameter i's start (a packed q/k/v or k/v group).
func (m *Model) pw(i int) kernels.Buf     { return m.w.View(m.params[i].Off, m.params[i].Len) }
func (m *Model) pg(i int) kernels.Buf     { return m.g.View(m.params[i].Off, m.params[i].Len) }
func (m *Model) pwn(i, n int) kernels.Buf { return m.w.View(m.params[i].Off, n) }
func (m *Model) pgn(i, n int) kernels.Buf { return m.g.View(m.params[i].Off, n) }

// arena owns a pass's allocations.
type arena struct {
	be   kernels.Backend
	bufs []kernels.Buf
}

func (a *arena) f32(n int) kernels.Buf {
	b := a.be.Alloc(n)
	a.bufs = append(a.bufs, b)
	return b
}

func (a *arena) index(n int) kernels.Buf {
	b := a.be.AllocIndex(n)
	a.bufs = append(a.bufs, b)
	return b
}

func (a *arena) free() {
	for _, b := range a.bufs {
		a.be.Free(b)
	}
	a.bufs = nil
}
