package multimodal

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/bert"
)

// TestStepOnCUDAMatchesCPU runs a reference batch's whole stage-2 step on the CUDA
// backend (through the host emulator of kernels/cuda, so no GPU is needed) and on the CPU:
// the four losses and every parameter's gradient agree within 1e-5.
func TestStepOnCUDAMatchesCPU(t *testing.T) {
	gpu := testenv.CUDAEmulator(t)
	r := loadRefModel(t)
	kind := r.batches[len(r.batches)-1] // the image batch when the set has it: the smallest step
	io := readIO(t, r.dir, kind)
	med := r.media[kind]
	bt, d := refBatch(t, r.cfg, io, map[string]int{"B": med.B, "T": med.T})
	// A 300-word vocabulary keeps the emulated step short (the tied 30522-row table dominates
	// it otherwise): the reference ids and random words are taken mod 300, the text encoder and
	// heads seeded.
	cfg := r.cfg
	cfg.Text.Vocab = 300
	for i := range bt.IDs {
		bt.IDs[i] %= 300
		d.MLM.RandomWords[i] %= 300
	}
	flat := Flat{Vision: r.flat.Vision, Text: bert.InitParams(cfg.Text, 5), Heads: InitHeads(cfg, 6)}
	run := func(be kernels.Trainer) (Losses, []float32) {
		m, err := New(be, cfg, flat)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.ZeroGrads()
		l, err := m.Step(bt, d, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		vg, err1 := m.Vision.DownloadGrads()
		tg, err2 := m.Text.DownloadGrads()
		hg, err3 := download(m, m.HeadGrads())
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		return l, append(append(vg, tg...), hg...)
	}
	wantL, want := run(cpu.New(cpu.Options{Threads: 2}))
	t0 := time.Now()
	gotL, got := run(gpu)
	t.Logf("emulated step %v", time.Since(t0))
	for _, x := range [][2]float64{{gotL.UTA, wantL.UTA}, {gotL.VTC, wantL.VTC}, {gotL.VTM, wantL.VTM}, {gotL.MLM, wantL.MLM}, {gotL.Total, wantL.Total}} {
		if math.Abs(x[0]-x[1]) > 1e-5*math.Abs(x[1]) {
			t.Errorf("losses on CUDA %+v, on the CPU %+v", gotL, wantL)
			break
		}
	}
	if e := relErr(widen(got), want); e > 1e-5 {
		t.Errorf("gradients: max|d|/max|cpu| = %.3g > 1e-5", e)
	} else {
		t.Logf("gradients: max|d|/max|cpu| = %.3g", e)
	}
}
