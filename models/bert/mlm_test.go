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

// TestMLMGroupsAreTheMeanOfEachGroupsMLM: MLMGroups over G groups of consecutive rows has the
// mean of the groups' own MLM losses (a group without labels adds 0), and its gradients (the
// hidden input's and the parameters') are the mean of the groups' gradients, as DDP's average
// of per-GPU MLM losses gives; groups that do not split the batch are refused.
func TestMLMGroupsAreTheMeanOfEachGroupsMLM(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	c := newFDCase(r)
	m, be := newModel(t, c.cfg, InitParams(c.cfg, 1))
	B, L, H, V := 8, c.txt.L, c.cfg.Hidden, c.cfg.Vocab
	hidden := upload(t, be, randn(r, B*L*H, 1))
	labels := make([]int32, B*L)
	for i := range labels {
		labels[i] = IgnoreIndex
		if b := i / L; b >= 2 && b < 4 { // rows 2-3 have no labels: group 1 of 4 is empty
			continue
		}
		if r.IntN(3+i/L) == 0 { // fewer labels further down: unequal counts per group
			labels[i] = int32(r.IntN(V))
		}
	}
	labels[0], labels[L*B-1] = 3, 5
	rel := func(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1e-30) }
	for _, G := range []int{2, 4} {
		rows := B / G
		var want float64
		wantD, wantG := make([]float64, B*L*H), []float64(nil)
		for k := 0; k < G; k++ {
			m.ZeroGrads()
			p, err := m.MLM(hidden.Rows(k*rows*L, rows*L, H), rows, L, labels[k*rows*L:(k+1)*rows*L])
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Backward(); err != nil {
				t.Fatal(err)
			}
			want += p.Loss() / float64(G)
			for i, d := range download(t, be, p.DHidden()) {
				wantD[k*rows*L*H+i] = float64(d) / float64(G)
			}
			g, err := m.DownloadGrads()
			if err != nil {
				t.Fatal(err)
			}
			if wantG == nil {
				wantG = make([]float64, len(g))
			}
			for i, v := range g {
				wantG[i] += float64(v) / float64(G)
			}
			p.Close()
		}
		m.ZeroGrads()
		p, err := m.MLMGroups(hidden, B, L, labels, G)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Backward(); err != nil {
			t.Fatal(err)
		}
		if rel(p.Loss(), want) > 1e-6 {
			t.Fatalf("%d groups: loss %v, the mean of the groups' losses %v", G, p.Loss(), want)
		}
		got, err := m.DownloadGrads()
		if err != nil {
			t.Fatal(err)
		}
		for name, pair := range map[string][2][]float64{"hidden": {f64(download(t, be, p.DHidden())), wantD}, "parameters": {f64(got), wantG}} {
			var worst, scale float64
			for i := range pair[1] {
				worst, scale = max(worst, math.Abs(pair[0][i]-pair[1][i])), max(scale, math.Abs(pair[1][i]))
			}
			if scale == 0 || worst > 1e-5*scale {
				t.Fatalf("%d groups: %s gradient differs from the mean of the groups' by %.3g (max %.3g)", G, name, worst, scale)
			}
		}
		p.Close()
	}
	if _, err := m.MLMGroups(hidden, B, L, labels, 3); err == nil {
		t.Fatal("3 groups of a batch of 8 were accepted")
	}
}
