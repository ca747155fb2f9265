package multimodal

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/umt-dev/umt/models/umt"
)

// groupStep runs one Step of a reference batch with d and returns its losses, trace and every
// gradient (vision, text, heads).
func groupStep(t *testing.T, r refModel, bt Batch, d umt.Draws) (Losses, Trace, [3][]float32) {
	t.Helper()
	m := newRefModel(t, r)
	m.ZeroGrads()
	var tr Trace
	l, err := m.Step(bt, d, 0, &tr)
	if err != nil {
		t.Fatal(err)
	}
	var g [3][]float32
	if g[0], err = m.Vision.DownloadGrads(); err != nil {
		t.Fatal(err)
	}
	if g[1], err = m.Text.DownloadGrads(); err != nil {
		t.Fatal(err)
	}
	if g[2], err = download(m, m.HeadGrads()); err != nil {
		t.Fatal(err)
	}
	return l, tr, g
}

// TestVTMGroupOfTheWholeBatchIsTheUngroupedStep: a VTM group of the whole batch (one rank) is
// the ungrouped step bit for bit: losses, negatives, weights, ITM logits and every gradient.
func TestVTMGroupOfTheWholeBatchIsTheUngroupedStep(t *testing.T) {
	r := loadRefModel(t)
	for _, kind := range r.batches {
		t.Run(kind, func(t *testing.T) {
			io := readIO(t, r.dir, kind)
			med := r.media[kind]
			bt, d := refBatch(t, r.cfg, io, map[string]int{"B": med.B, "T": med.T})
			l0, tr0, g0 := groupStep(t, r, bt, d)
			d.Group = med.B
			lB, trB, gB := groupStep(t, r, bt, d)
			if l0 != lB || !reflect.DeepEqual(tr0.Neg, trB.Neg) || !slices.Equal(tr0.ITMLogits, trB.ITMLogits) {
				t.Fatalf("group %d: losses %+v, negatives %v %v; ungrouped %+v, %v %v", med.B, lB, trB.Neg.Vision, trB.Neg.Text, l0, tr0.Neg.Vision, tr0.Neg.Text)
			}
			for i := range g0 {
				if !slices.Equal(g0[i], gB[i]) {
					t.Fatalf("group %d: gradients of part %d differ from the ungrouped step", med.B, i)
				}
			}
		})
	}
}

// groupDraws is d with VTM groups of G clips: each row keeps the stored noise of its own
// group's columns, so every group draws what its block of the similarity alone gives.
func groupDraws(d umt.Draws, B, G int) umt.Draws {
	g := umt.Draws{MLM: d.MLM, Group: G, ExpT2V: make([]float64, B*G), ExpV2T: make([]float64, B*G)}
	for i := 0; i < B; i++ {
		o := i / G * G
		copy(g.ExpT2V[i*G:(i+1)*G], d.ExpT2V[i*B+o:i*B+o+G])
		copy(g.ExpV2T[i*G:(i+1)*G], d.ExpV2T[i*B+o:i*B+o+G])
	}
	return g
}

// splitRef is a reference batch, its draws and groups of 2 clips (B/2 ranks); it fails the
// test for a batch that does not split into at least two such groups.
func splitRef(t *testing.T, r refModel, kind string) (Batch, umt.Draws, umt.Draws, int) {
	t.Helper()
	io := readIO(t, r.dir, kind)
	med := r.media[kind]
	B, G := med.B, 2
	if B%G != 0 || B == G {
		t.Fatalf("the %s batch of %d clips does not split into groups of %d: this test needs an even batch of at least 4", kind, B, G)
	}
	bt, d := refBatch(t, r.cfg, io, map[string]int{"B": B, "T": med.T})
	return bt, d, groupDraws(d, B, G), G
}

// TestVTMGroupsKeepUTAAndVTCLosses: with the batch split into groups of 2 (as over B/2 GPUs),
// each negative lies in its sample's group and is the draw the group's own block gives; UTA
// and VTC are the ungrouped step's bit for bit (VTC is the global loss every GPU computes), and
// VTM and MLM stay finite.
func TestVTMGroupsKeepUTAAndVTCLosses(t *testing.T) {
	r := loadRefModel(t)
	for _, kind := range r.batches {
		t.Run(kind, func(t *testing.T) {
			bt, d, g, G := splitRef(t, r, kind)
			B := bt.Vision.B
			l0, _, _ := groupStep(t, r, bt, d)
			l, tr, _ := groupStep(t, r, bt, g)
			want, err := g.HardNegatives(tr.Sim, bt.Idx, B)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tr.Neg, want) {
				t.Fatalf("negatives %v %v, the groups' own draw %v %v", tr.Neg.Vision, tr.Neg.Text, want.Vision, want.Text)
			}
			for i := 0; i < B; i++ {
				if tr.Neg.Vision[i]/G != i/G || tr.Neg.Text[i]/G != i/G {
					t.Fatalf("row %d of group %d got negatives %d and %d", i, i/G, tr.Neg.Vision[i], tr.Neg.Text[i])
				}
			}
			finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
			if l.UTA != l0.UTA || l.VTC != l0.VTC || !finite(l.VTM) || !finite(l.MLM) {
				t.Fatalf("grouped %+v, ungrouped %+v: UTA and VTC may not change", l, l0)
			}
		})
	}
}

// TestRanksGiveVTCOneOverRanksOfItsGradient: over R ranks the projections (whose only loss is
// VTC) and the encoders' pooled vector and text CLS row (through which alone VTC reaches them)
// get 1/R of the ungrouped gradient, as the official AllGather backward plus DDP's average give
// them, while temp gets all of it.
func TestRanksGiveVTCOneOverRanksOfItsGradient(t *testing.T) {
	r := loadRefModel(t)
	for _, kind := range r.batches {
		t.Run(kind, func(t *testing.T) {
			bt, d, g, G := splitRef(t, r, kind)
			R := bt.Vision.B / G
			_, tr0, g0 := groupStep(t, r, bt, d)
			_, trR, gR := groupStep(t, r, bt, g)
			// the pooled vector and the text CLS row reach the encoders through VTC alone
			for name, pair := range map[string][2][]float32{"pooled": {tr0.DPooled, trR.DPooled}, "text CLS": {tr0.DCLS, trR.DCLS}} {
				var worst, scale float64
				for i, full := range pair[0] {
					worst = max(worst, math.Abs(float64(pair[1][i])*float64(R)-float64(full)))
					scale = max(scale, math.Abs(float64(full)))
				}
				if len(pair[0]) == 0 || scale == 0 || worst > 1e-6*scale {
					t.Fatalf("%s: %d ranks × VTC's encoder gradient differs from the ungrouped one by %.3g (max|g| %.3g)", name, R, worst, scale)
				}
			}
			m := newRefModel(t, r)
			for _, p := range m.HeadParamList() {
				full, part := g0[2][p.Off:p.Off+p.Len], gR[2][p.Off:p.Off+p.Len]
				switch p.Name {
				case "temp":
					if full[0] != part[0] || full[0] == 0 {
						t.Fatalf("temp's gradient %v over %d ranks, %v ungrouped: it must stay whole", part[0], R, full[0])
					}
				case "vision_proj.weight", "vision_proj.bias", "text_proj.weight", "text_proj.bias":
					var worst, scale float64
					for i := range full {
						worst = max(worst, math.Abs(float64(part[i])*float64(R)-float64(full[i])))
						scale = max(scale, math.Abs(float64(full[i])))
					}
					if scale == 0 || worst > 1e-6*scale {
						t.Fatalf("%s: %d ranks × its gradient differs from the ungrouped one by %.3g (max|g| %.3g)", p.Name, R, worst, scale)
					}
				}
			}
		})
	}
}

// TestRanksMeanMLMOverEachRanksMaskedTokens: over R ranks the MLM loss is the mean of each
// rank's mean over its own masked tokens, computed here by hand from the step's MLM logits.
func TestRanksMeanMLMOverEachRanksMaskedTokens(t *testing.T) {
	r := loadRefModel(t)
	for _, kind := range r.batches {
		t.Run(kind, func(t *testing.T) {
			bt, d, g, G := splitRef(t, r, kind)
			B, L := bt.Vision.B, bt.L
			l0, _, _ := groupStep(t, r, bt, d)
			l, tr, _ := groupStep(t, r, bt, g)
			// the labelled positions' logits and labels, per rank (rows of G·L positions)
			V := len(tr.MLMLogits) / max(countLabelled(tr.Labels), 1)
			logits, labels := make([][]float64, B/G), make([][]int, B/G)
			at := 0
			for pos, y := range tr.Labels {
				if y >= 0 {
					k := pos / (G * L)
					logits[k] = append(logits[k], widen(tr.MLMLogits[at*V:(at+1)*V])...)
					labels[k] = append(labels[k], int(y))
					at++
				}
			}
			var grouped float64
			cnt := make([]int, B/G)
			for k := range labels {
				if cnt[k] = len(labels[k]); cnt[k] == 0 {
					continue // a rank without masked tokens adds 0
				}
				mean, _, err := umt.CrossEntropy(logits[k], labels[k], V)
				if err != nil {
					t.Fatal(err)
				}
				grouped += mean / float64(B/G)
			}
			global, _, err := umt.CrossEntropy(slices.Concat(logits...), slices.Concat(labels...), V)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-6 * global
			if math.Abs(l.MLM-grouped) > tol || math.Abs(l0.MLM-global) > tol {
				t.Fatalf("MLM over %d ranks %v, mean of the ranks' means %v (counts %v); ungrouped %v, global mean %v", B/G, l.MLM, grouped, cnt, l0.MLM, global)
			}
			if math.Abs(grouped-global) > 10*tol && math.Abs(l.MLM-global) <= tol {
				t.Fatalf("MLM over %d ranks %v is the global mean %v, not the mean of the ranks' means %v", B/G, l.MLM, global, grouped)
			}
		})
	}
}

func countLabelled(labels []int32) int {
	n := 0
	for _, y := range labels {
		if y >= 0 {
			n++
		}
	}
	return n
}
