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

// TestVTMGroupsChangeOnlyVTM: with the batch split into groups of 2 (as over B/2 GPUs), each
// negative lies in its sample's group and is the draw the group's own block gives; UTA, VTC
// and MLM are the ungrouped step's bit for bit, and VTM stays finite.
func TestVTMGroupsChangeOnlyVTM(t *testing.T) {
	r := loadRefModel(t)
	for _, kind := range r.batches {
		t.Run(kind, func(t *testing.T) {
			io := readIO(t, r.dir, kind)
			med := r.media[kind]
			B, G := med.B, 2
			if B%G != 0 || B == G {
				t.Fatalf("the %s batch of %d clips does not split into groups of %d: this test needs an even batch of at least 4", kind, B, G)
			}
			bt, d := refBatch(t, r.cfg, io, map[string]int{"B": B, "T": med.T})
			l0, _, _ := groupStep(t, r, bt, d)
			// each row keeps the stored noise of its own group's columns
			g := umt.Draws{MLM: d.MLM, Group: G, ExpT2V: make([]float64, B*G), ExpV2T: make([]float64, B*G)}
			for i := 0; i < B; i++ {
				o := i / G * G
				copy(g.ExpT2V[i*G:(i+1)*G], d.ExpT2V[i*B+o:i*B+o+G])
				copy(g.ExpV2T[i*G:(i+1)*G], d.ExpV2T[i*B+o:i*B+o+G])
			}
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
			if l.UTA != l0.UTA || l.VTC != l0.VTC || l.MLM != l0.MLM || math.IsNaN(l.VTM) || math.IsInf(l.VTM, 0) {
				t.Fatalf("grouped %+v, ungrouped %+v: only VTM may change", l, l0)
			}
		})
	}
}
