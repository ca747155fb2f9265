package optim

import (
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
)

// TestUMTRecipeLR: 1.5e-4 at 64×32 clips is 1.2e-3 and min_lr 1e-5 becomes 8e-5 (UMT.md §1.7).
func TestUMTRecipeLR(t *testing.T) {
	if got := ScaleLR(1.5e-4, 64*32, 1); math.Abs(got-1.2e-3) > 1e-15 {
		t.Errorf("lr %v, want 1.2e-3", got)
	}
	if got := ScaleLR(1e-5, 64*32, 1); math.Abs(got-8e-5) > 1e-18 {
		t.Errorf("min lr %v, want 8e-5", got)
	}
}

// TestScheduleShape checks the warmup ramp (linspace with both ends), the peak right after
// warmup, the cosine midpoint and the last value against closed forms.
func TestScheduleShape(t *testing.T) {
	s, err := NewSchedule(1e-3, 1e-5, 10, 2, 5) // warmup 10 iterations of 50
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		it   int
		want float64
	}{
		{0, 0},
		{1, 1e-3 / 9},
		{9, 1e-3},
		{10, 1e-3},
		{30, 1e-5 + 0.5*(1e-3-1e-5)},
		{49, 1e-5 + 0.5*(1e-3-1e-5)*(1+math.Cos(math.Pi*39/40))},
		{500, 1e-5 + 0.5*(1e-3-1e-5)*(1+math.Cos(math.Pi*39/40))},
	}
	for _, c := range cases {
		if got := s.At(c.it); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("At(%d) = %.10g, want %.10g", c.it, got, c.want)
		}
	}
	for it := 11; it < 50; it++ {
		if s.At(it) > s.At(it-1) {
			t.Fatalf("cosine phase increases at %d", it)
		}
	}
	if _, err := NewSchedule(1, 0, 2, 2, 5); err == nil {
		t.Error("warmup as long as the run accepted")
	}
}

// TestAdamWGroupsDecay: with zero gradients only weight decay moves parameters, and only in the
// decayed group; clipping scales gradients by max/(norm+1e-6).
func TestAdamWGroupsDecay(t *testing.T) {
	be := cpu.New(cpu.Options{Threads: 2})
	w := be.Alloc(6)
	g := be.Alloc(6)
	be.Fill(w, 2)
	o, err := NewAdamW(be, 6, []Group{{0, 4, true}, {4, 2, false}}, UMT)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Update(w, g, 0.1, 1); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 6)
	be.Download(got, w)
	for i, v := range got {
		want := float32(2)
		if i < 4 {
			want = 2 * float32(1-0.1*0.05)
		}
		if v != want {
			t.Errorf("param %d = %v, want %v", i, v, want)
		}
	}
	if o.ClipScale(10) != 1 {
		t.Error("clipping off must give scale 1")
	}
	o.H.ClipGrad = 1
	if s := o.ClipScale(3); math.Abs(s-1/(3+1e-6)) > 1e-12 {
		t.Errorf("clip scale %v", s)
	}
	if _, err := NewAdamW(be, 6, []Group{{0, 4, true}}, UMT); err == nil {
		t.Error("groups not covering the parameters accepted")
	}
	o.Close()
	be.Free(w)
	be.Free(g)
	if s := be.Stats(); s.LiveBytes != 0 {
		t.Errorf("%d bytes live", s.LiveBytes)
	}
	var _ kernels.Trainer = be
}
