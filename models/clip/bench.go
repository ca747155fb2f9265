package clip

import (
	"fmt"
	"math/rand/v2"

	"github.com/umt-dev/umt/kernels"
)

// Bench is the teacher forward that BenchmarkTeacherViTB16 and `umt bench teacher` time, set up
// in one place so both measure the same thing: B clips of T frames of random Size×Size RGB
// pixels encoded in one EncodeTo call (features of the K returned blocks and the CLS attention)
// into buffers allocated once.
type Bench struct {
	t           *Teacher
	frames      []byte
	feats, attn []float32
	B, T, Size  int
}

// BenchShape is the input of one Bench run.
type BenchShape struct {
	B, T int // clips per call and frames per clip
	Size int // frame side in pixels; 0 means the teacher's resolution (no resize)
}

// NewBench builds a teacher on be for cfg with weights w (nil: RandomWeights(cfg, 1), the
// size's real cost without a download) and draws the frames. The teacher processes all B·T
// frames together, as prep's teacher does with its batch. Close it when done.
func NewBench(be kernels.Backend, cfg Config, w *Weights, sh BenchShape) (*Bench, error) {
	cfg = cfg.WithDefaults()
	if sh.B <= 0 || sh.T <= 0 || sh.Size < 0 {
		return nil, fmt.Errorf("clip: bench needs clips and frames > 0 and a size >= 0 (got %d clips, %d frames, size %d)", sh.B, sh.T, sh.Size)
	}
	if sh.Size == 0 {
		sh.Size = cfg.Resolution
	}
	if w == nil {
		var err error
		if w, err = RandomWeights(cfg, 1); err != nil {
			return nil, err
		}
	}
	t, err := New(be, cfg, w, Options{MaxFrames: sh.B * sh.T})
	if err != nil {
		return nil, err
	}
	b := &Bench{t: t, B: sh.B, T: sh.T, Size: sh.Size, frames: make([]byte, sh.B*sh.T*sh.Size*sh.Size*3)}
	r := rand.New(rand.NewPCG(1, 1))
	for i := range b.frames {
		b.frames[i] = byte(r.UintN(256))
	}
	nf, na := t.Sizes(sh.B, sh.T)
	b.feats, b.attn = make([]float32, nf), make([]float32, na)
	return b, nil
}

// Run encodes the frames once; the first call also allocates the teacher's workspace.
func (b *Bench) Run() error {
	return b.t.EncodeTo(b.feats, b.attn, b.frames, b.B, b.T, b.Size, b.Size)
}

// Config is the teacher's complete configuration.
func (b *Bench) Config() Config { return b.t.Config() }

// Close frees the teacher's buffers.
func (b *Bench) Close() error { return b.t.Close() }
