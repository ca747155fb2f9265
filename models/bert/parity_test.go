package bert

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestTextModeMatchesReference: mode="text" on the unmasked captions gives text.text_embeds and
// on the MLM-masked ids bert.mlm_text.last_hidden_state (embeddings, the extended padding mask
// and layers [0, fusion_layer)).
func TestTextModeMatchesReference(t *testing.T) {
	r := loadRef(t)
	H := r.cfg.Hidden
	for _, b := range r.batches {
		t.Run(b.kind, func(t *testing.T) {
			m, be := newModel(t, r.cfg, r.flat)
			mask := i32(shaped(t, b.io, "text.attention_mask", b.B, b.L).I64)
			for _, c := range []struct{ ids, want string }{
				{"text.input_ids", "text.text_embeds"},
				{"mlm.input_ids_masked", "bert.mlm_text.last_hidden_state"},
			} {
				p, err := m.Text(Text{B: b.B, L: b.L, IDs: i32(shaped(t, b.io, c.ids, b.B, b.L).I64), Mask: mask})
				if err != nil {
					t.Fatal(err)
				}
				checkRel(t, c.want, download(t, be, p.Out()), shaped(t, b.io, c.want, b.B, b.L, H).F32, tolAct)
				p.Close()
			}
		})
	}
}

// TestFusionModeMatchesReference: mode="fusion" (layers [fusion_layer, L) with cross-attention
// to the visible student tokens, all-ones vision mask) gives bert.vtm_fusion.last_hidden_state
// on the VTM batch and mlm.head_input on the masked text, each from the stored inputs.
func TestFusionModeMatchesReference(t *testing.T) {
	r := loadRef(t)
	H := r.cfg.Hidden
	for _, b := range r.batches {
		t.Run(b.kind, func(t *testing.T) {
			m, be := newModel(t, r.cfg, r.flat)
			in := refSideIn(t, r, b)
			x, mask, vis := vtmBatch(in, H, r.cfg.EncoderWidth, shaped(t, b.io, "text.text_embeds", b.B, b.L, H).F32)
			p, err := m.Fusion(upload(t, be, x), mask, 3*b.B, b.L, Vision{N: in.N, Tokens: upload(t, be, vis)})
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "bert.vtm_fusion.last_hidden_state", download(t, be, p.Out()), shaped(t, b.io, "bert.vtm_fusion.last_hidden_state", 3*b.B, b.L, H).F32, tolAct)
			p.Close()

			hidden := upload(t, be, shaped(t, b.io, "bert.mlm_text.last_hidden_state", b.B, b.L, H).F32)
			p, err = m.Fusion(hidden, in.mask, b.B, b.L, Vision{N: in.N, Tokens: upload(t, be, in.vis)})
			if err != nil {
				t.Fatal(err)
			}
			checkRel(t, "mlm.head_input", download(t, be, p.Out()), shaped(t, b.io, "mlm.head_input", b.B, b.L, H).F32, tolAct)
			p.Close()
		})
	}
}

// TestTextThenFusionChainsToReference runs the MLM path end to end from ids (text mode on the
// masked ids, then fusion mode) and checks the head input, so the two modes also agree when
// chained on our own activations.
func TestTextThenFusionChainsToReference(t *testing.T) {
	r := loadRef(t)
	for _, b := range r.batches {
		t.Run(b.kind, func(t *testing.T) {
			m, be := newModel(t, r.cfg, r.flat)
			mask := i32(get(t, b.io, "text.attention_mask").I64)
			tp, err := m.Text(Text{B: b.B, L: b.L, IDs: i32(get(t, b.io, "mlm.input_ids_masked").I64), Mask: mask})
			if err != nil {
				t.Fatal(err)
			}
			defer tp.Close()
			ve := get(t, b.io, "student.vision_embeds")
			fp, err := m.Fusion(tp.Out(), mask, b.B, b.L, Vision{N: ve.Shape[1], Tokens: upload(t, be, ve.F32)})
			if err != nil {
				t.Fatal(err)
			}
			defer fp.Close()
			checkRel(t, "mlm.head_input (chained)", download(t, be, fp.Out()), get(t, b.io, "mlm.head_input").F32, tolAct)
		})
	}
}

// TestMLMHeadMatchesReference: the MLM head on mlm.head_input gives mlm.logits_at_masked at the
// first masked positions and the loss loss.mlm (mean CE over every position whose label is not
// -100), and it labels exactly mlm.masked_positions.
func TestMLMHeadMatchesReference(t *testing.T) {
	r := loadRef(t)
	H, V := r.cfg.Hidden, r.cfg.Vocab
	for _, b := range r.batches {
		t.Run(b.kind, func(t *testing.T) {
			m, be := newModel(t, r.cfg, r.flat)
			labels := i32(shaped(t, b.io, "mlm.labels", b.B, b.L).I64)
			in := upload(t, be, shaped(t, b.io, "mlm.head_input", b.B, b.L, H).F32)
			p, err := m.MLM(in, b.B, b.L, labels)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pos := get(t, b.io, "mlm.masked_positions")
			if len(pos.Shape) != 2 || pos.Shape[0] != p.Count() {
				t.Fatalf("head labels %d positions; mlm.masked_positions has shape %v", p.Count(), pos.Shape)
			}
			logits, err := p.Logits()
			if err != nil {
				t.Fatal(err)
			}
			ref := get(t, b.io, "mlm.logits_at_masked")
			k := min(p.Count(), ref.Shape[0])
			if ref.Shape[1] != V || k == 0 {
				t.Fatalf("mlm.logits_at_masked has shape %v for %d masked positions and vocab %d", ref.Shape, p.Count(), V)
			}
			checkRel(t, "mlm.logits_at_masked", logits[:k*V], ref.F32[:k*V], tolAct)
			want := float64(shaped(t, b.io, "loss.mlm", 1).F32[0])
			if d := math.Abs(p.Loss()-want) / want; d > tolLoss {
				t.Errorf("loss.mlm %.8g, reference %.8g (rel %.3g > %.1g)", p.Loss(), want, d, tolLoss)
			} else {
				t.Logf("loss.mlm %.8g, reference %.8g (rel %.3g)", p.Loss(), want, d)
			}
		})
	}
}

// TestStateDictNamesAndShapes: our parameter list is exactly the text_encoder.* tensors of the
// reference checkpoint (names and shapes), except the tied decoder it stores once and the
// position_ids buffer.
func TestStateDictNamesAndShapes(t *testing.T) {
	r := loadRef(t)
	ours := map[string]bool{}
	for _, p := range layout(r.cfg) {
		ours[UMTPrefix+p.Name] = true
		ref, ok := r.all[UMTPrefix+p.Name]
		if !ok {
			t.Errorf("reference has no %s", UMTPrefix+p.Name)
			continue
		}
		if !slices.Equal(ref.Shape, p.Shape) {
			t.Errorf("%s: shape %v, reference %v", p.Name, p.Shape, ref.Shape)
		}
	}
	for name := range r.all {
		if strings.HasPrefix(name, UMTPrefix) && !ours[name] && name != UMTPrefix+"bert.embeddings.position_ids" &&
			!strings.HasPrefix(name, UMTPrefix+"cls.predictions.decoder.") {
			t.Errorf("reference tensor %s is not a parameter of ours", name)
		}
	}
}
