package bert

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMLMLossSurvivesUnderflow: a label whose softmax probability underflows float32 (its
// logit 10⁴ below the rest) still gets its exact cross-entropy, the float64 log-softmax of its
// logits, instead of +Inf; the mean runs over labelled positions only.
func TestMLMLossSurvivesUnderflow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	c := newFDCase(r)
	flat := InitParams(c.cfg, 1)
	ps := layout(c.cfg)
	for _, p := range ps {
		if p.Name == "cls.predictions.bias" {
			flat[p.Off+7] = -1e4 // label 7 (set at position 1 by newFDCase) is all but impossible
		}
	}
	m, be := newModel(t, c.cfg, flat)
	B, L, H, V := c.txt.B, c.txt.L, c.cfg.Hidden, c.cfg.Vocab
	hidden := upload(t, be, randn(r, B*L*H, 1))
	p, err := m.MLM(hidden, B, L, c.labels)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	logits, err := p.Logits()
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	n := 0
	for _, y := range c.labels {
		if y == IgnoreIndex {
			continue
		}
		row := logits[n*V : (n+1)*V]
		mx := math.Inf(-1)
		for _, z := range row {
			mx = math.Max(mx, float64(z))
		}
		var s float64
		for _, z := range row {
			s += math.Exp(float64(z) - mx)
		}
		want += mx + math.Log(s) - float64(row[y])
		n++
	}
	want /= float64(n)
	if p.Count() != n || math.IsInf(p.Loss(), 0) || math.Abs(p.Loss()-want) > 1e-6*want {
		t.Fatalf("loss %v over %d positions, want %v over %d", p.Loss(), p.Count(), want, n)
	}
	if want < 1e4/float64(n) {
		t.Fatalf("the test did not make a probability underflow (loss %v)", want)
	}
	if err := p.Backward(); err != nil {
		t.Fatal(err)
	}
	if err := p.Backward(); err == nil {
		t.Fatal("a second Backward on the same pass succeeded")
	}
}

// TestMLMWithoutLabelsIsZero: a batch where nothing is masked has loss 0 and zero gradient (PyTorch
// would give NaN and poison the step).
func TestMLMWithoutLabelsIsZero(t *testing.T) {
	c := newFDCase(rand.New(rand.NewPCG(1, 2)))
	m, be := newModel(t, c.cfg, InitParams(c.cfg, 1))
	B, L, H := c.txt.B, c.txt.L, c.cfg.Hidden
	labels := make([]int32, B*L)
	for i := range labels {
		labels[i] = IgnoreIndex
	}
	p, err := m.MLM(upload(t, be, make([]float32, B*L*H)), B, L, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Backward(); err != nil {
		t.Fatal(err)
	}
	if p.Loss() != 0 || p.Count() != 0 {
		t.Fatalf("loss %v over %d positions, want 0 over 0", p.Loss(), p.Count())
	}
	for _, g := range download(t, be, p.DHidden()) {
		if g != 0 {
			t.Fatal("nonzero gradient without labels")
		}
	}
}

// TestInputsAreRejected: malformed inputs give errors, not panics.
func TestInputsAreRejected(t *testing.T) {
	c := newFDCase(rand.New(rand.NewPCG(1, 2)))
	m, be := newModel(t, c.cfg, InitParams(c.cfg, 1))
	bad := c.txt
	bad.IDs = append([]int32{int32(c.cfg.Vocab)}, bad.IDs[1:]...)
	if _, err := m.Text(bad); err == nil {
		t.Error("an id outside the vocabulary was accepted")
	}
	bad = c.txt
	bad.Mask = append([]int32{2}, bad.Mask[1:]...)
	if _, err := m.Text(bad); err == nil {
		t.Error("a mask value 2 was accepted")
	}
	if _, err := m.Text(Text{B: 1, L: c.cfg.MaxPosition + 1, IDs: make([]int32, c.cfg.MaxPosition+1), Mask: make([]int32, c.cfg.MaxPosition+1)}); err == nil {
		t.Error("a sequence longer than max_position_embeddings was accepted")
	}
	x := upload(t, be, make([]float32, c.txt.B*c.txt.L*c.cfg.Hidden))
	if _, err := m.Fusion(x, c.txt.Mask, c.txt.B, c.txt.L, Vision{N: c.N, Tokens: upload(t, be, make([]float32, 3))}); err == nil {
		t.Error("vision tokens of the wrong width were accepted")
	}
	labels := append([]int32{int32(c.cfg.Vocab)}, c.labels[1:]...)
	if _, err := m.MLM(x, c.txt.B, c.txt.L, labels); err == nil {
		t.Error("a label outside the vocabulary was accepted")
	}
}
