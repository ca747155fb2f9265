package stage2

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/multimodal"
)

// TestResumeEqualsStraightRun: N steps, Save, Resume on a fresh backend and N more steps give
// bit for bit the losses and parameters of 2N steps straight; a damaged file is refused.
func TestResumeEqualsStraightRun(t *testing.T) {
	c := tinyConfig()
	pv, video := synthRows(c, 4, c.Vision.Frames, 12, 11)
	pi, image := synthRows(c, 4, 1, 12, 12)
	bv, err := BuildBatch(Recipe, c, pv, video, []int{0, 1, 2, 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := BuildBatch(Recipe, c, pi, image, []int{4, 5, 6, 7}, 0)
	if err != nil {
		t.Fatal(err)
	}
	batches := []multimodal.Batch{bv, bi, bi, bv}
	const N = 2
	params := func(tr *Trainer) []float32 {
		v, err := tr.Model.Vision.Download()
		if err != nil {
			t.Fatal(err)
		}
		x, err := tr.Model.Text.Download()
		if err != nil {
			t.Fatal(err)
		}
		return append(v, x...)
	}
	step := func(tr *Trainer, b multimodal.Batch) float64 {
		l, _, err := tr.TrainStep(b)
		if err != nil {
			t.Fatal(err)
		}
		return l.Total
	}
	straight, _ := newTrainer(t, c, 1e-3)
	var want []float64
	for s := 0; s < 2*N; s++ {
		want = append(want, step(straight, batches[s]))
	}
	first, _ := newTrainer(t, c, 1e-3)
	var got []float64
	for s := 0; s < N; s++ {
		got = append(got, step(first, batches[s]))
	}
	dir := t.TempDir()
	if err := first.Save(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	be := cpu.New(cpu.Options{Threads: 2})
	resumed, err := Resume(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		resumed.Close()
		resumed.Model.Close()
		if s := be.Stats(); s.LiveBytes != 0 {
			t.Errorf("backend still holds %d bytes", s.LiveBytes)
		}
	}()
	if resumed.Step != N {
		t.Fatalf("resumed at step %d, want %d", resumed.Step, N)
	}
	for s := N; s < 2*N; s++ {
		got = append(got, step(resumed, batches[s]))
	}
	if !slices.Equal(got, want) {
		t.Errorf("losses %v after a resume, %v straight", got, want)
	}
	if !slices.Equal(params(resumed), params(straight)) {
		t.Error("parameters after a resume differ from the straight run's")
	}
	f := filepath.Join(dir, ckptOptim)
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(dir, cpu.New(cpu.Options{Threads: 1})); err == nil {
		t.Error("a damaged optimizer file was resumed")
	}
}
