package bert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
)

// chainResult is what one text → fusion → MLM forward and backward gives.
type chainResult struct {
	out, grads, dVis []float32
	loss             float64
}

// runChain runs the fdCase's MLM path on be (the vision memory partly masked) and
// back-propagates it into every parameter and the vision tokens.
func runChain(t *testing.T, be kernels.Trainer, c fdCase, flat []float32) chainResult {
	t.Helper()
	m, err := New(be, c.cfg, flat)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	vis := be.Alloc(len(c.vis))
	defer be.Free(vis)
	be.Upload(vis, c.vis)
	m.ZeroGrads()
	ch := c.forward(t, m, vis)
	defer ch.close()
	tp, fp, mp := ch.tp, ch.fp, ch.mp
	r := chainResult{out: make([]float32, fp.Out().Len()), loss: mp.Loss()}
	if err := be.Download(r.out, fp.Out()); err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{mp.Backward, func() error { return fp.Backward(mp.DHidden()) }, func() error { return tp.Backward(fp.DIn()) }} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if r.grads, err = m.DownloadGrads(); err != nil {
		t.Fatal(err)
	}
	r.dVis = make([]float32, fp.DVision().Len())
	if err := be.Download(r.dVis, fp.DVision()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCUDABackendMatchesCPU runs the encoder's forward and backward (text mode with padding,
// fusion with a masked vision token, MLM head and loss) on the CUDA backend, its kernels
// executed by the host emulator of kernels/cuda (no GPU needed: it checks that every launch
// the model makes is valid and computes what the CPU backend does), and compares the fusion
// output, the loss, every parameter gradient and the vision-token gradient with the CPU's
// within 1e-5 of each tensor's largest value; every device buffer is freed at the end. Skips
// only where no g++ can build the emulator or UMT_CUDA_EMU=0, as kernels/cuda's own emulator
// test does.
func TestCUDABackendMatchesCPU(t *testing.T) {
	gpu := testenv.CUDAEmulator(t)
	r := rand.New(rand.NewPCG(3, 4))
	c := newFDCase(r)
	flat := InitParams(c.cfg, 9)
	for i := range flat {
		flat[i] += float32(0.2 * r.NormFloat64())
	}
	want := runChain(t, cpu.New(cpu.Options{Threads: 2}), c, flat)
	got := runChain(t, gpu, c, flat)
	if d := math.Abs(got.loss-want.loss) / want.loss; d > 1e-5 {
		t.Errorf("MLM loss %v on CUDA, %v on the CPU (rel %.3g)", got.loss, want.loss, d)
	}
	for _, x := range []struct {
		name      string
		got, want []float32
	}{{"fusion output", got.out, want.out}, {"parameter gradients", got.grads, want.grads}, {"vision-token gradient", got.dVis, want.dVis}} {
		if e := relErr(x.got, x.want); e > 1e-5 {
			t.Errorf("%s: max|d|/max|cpu| = %.3g > 1e-5", x.name, e)
		} else {
			t.Logf("%s: max|d|/max|cpu| = %.3g", x.name, e)
		}
	}
	if s := gpu.Stats(); s.LiveBytes != 0 || s.LiveAllocs != 0 {
		t.Errorf("the CUDA backend still holds %d bytes in %d allocations", s.LiveBytes, s.LiveAllocs)
	}
}
