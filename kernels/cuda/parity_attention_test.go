package cuda

import (
	"fmt"
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// Attention parity. Shapes sit around the kernels' tiles (64 query rows per block, key tiles
// of 32 (16 for Dh > 64) in chunks of 8, 32x32 probability tiles, 16-row backward tiles) and
// include the teacher's (197 tokens, 12 heads of 64) and the student's (320 visible tokens).
// Tolerances: outputs are convex combinations of V in [-1, 1], so 2e-5 absolute covers the
// different summation order and expf (1e-4 relative for the rest); probabilities 1e-6 + 1e-4
// rel; gradients 1e-4 of the largest reference gradient plus 1e-4 relative.

type attnShape struct{ b, h, lq, lk, dh int }

var attnShapes = []attnShape{
	{1, 1, 1, 1, 64}, {2, 3, 63, 65, 64}, {1, 2, 64, 64, 32}, {2, 2, 65, 31, 32},
	{1, 2, 33, 40, 80}, {1, 2, 129, 130, 128}, {2, 12, 197, 197, 64}, {1, 12, 320, 320, 64},
}

// attnOperands allocates a packed qkv [B, L, 3*H*Dh] (self-attention, as the models use it) or,
// for cross shapes (Lq != Lk), separate q [B, Lq, H*Dh] and kv [B, Lk, 2*H*Dh] tensors.
func attnOperands(d *dual, s attnShape, bias bool) (a [2]kernels.Attention, bufs []pair) {
	w := s.h * s.dh
	var q, kv pair
	qRow, kvRow := w, 2*w
	if s.lq == s.lk {
		q = d.rand(s.b*s.lq*3*w, -1, 1)
		kv = q
		qRow, kvRow = 3*w, 3*w
	} else {
		q = d.rand(s.b*s.lq*w, -1, 1)
		kv = d.rand(s.b*s.lk*2*w, -1, 1)
	}
	out := d.zeros(s.b * s.lq * w)
	var kb pair
	if bias {
		vals := d.vals(s.b*s.lk, 0, 0)
		for i := range vals {
			if d.rng.IntN(5) == 0 {
				vals[i] = -10000 // padding, as BERT masks it
			}
		}
		kb = d.put(vals)
	}
	kOff, vOff := w, 2*w
	if s.lq != s.lk {
		kOff, vOff = 0, w
	}
	for side := 0; side < 2; side++ {
		a[side] = kernels.Attention{B: s.b, H: s.h, Lq: s.lq, Lk: s.lk, Dh: s.dh, Scale: float32(1 / math.Sqrt(float64(s.dh))),
			Q: q[side], QRow: qRow, QBatch: s.lq * qRow,
			K: kv[side].View(kOff, kv[side].Len()-kOff), V: kv[side].View(vOff, kv[side].Len()-vOff),
			KVRow: kvRow, KVBatch: s.lk * kvRow, Out: out[side], KeyBias: kb[side]}
	}
	return a, []pair{q, kv, out}
}

func TestParityAttention(t *testing.T) {
	d := newDual(t, Options{})
	for _, s := range quick(attnShapes, 6) {
		for _, bias := range []bool{false, true} {
			name := fmt.Sprintf("%+v bias=%v", s, bias)
			a, bufs := attnOperands(d, s, bias)
			probs, mean := d.zeros(s.b*s.h*s.lq*s.lk), d.zeros(s.b*s.lk)
			d.run(func(k kernels.Trainer, side int) { k.Attention(a[side]) })
			d.check("Attention out "+name, bufs[2], 2e-5, 1e-4)
			d.run(func(k kernels.Trainer, side int) {
				x := a[side]
				x.Probs, x.HeadMean, x.HeadMeanRow = probs[side], mean[side], s.lq/2
				k.Attention(x)
			})
			d.check("Attention out (with probs) "+name, bufs[2], 2e-5, 1e-4)
			d.check("Attention probs "+name, probs, 1e-6, 1e-4)
			d.check("Attention head mean "+name, mean, 1e-6, 1e-4)
		}
	}
}

func TestParityAttentionBackward(t *testing.T) {
	d := newDual(t, Options{})
	for _, s := range quick(attnShapes, 6) {
		name := fmt.Sprintf("%+v", s)
		a, bufs := attnOperands(d, s, false)
		probs := d.zeros(s.b * s.h * s.lq * s.lk)
		d.run(func(k kernels.Trainer, side int) {
			a[side].Probs = probs[side]
			k.Attention(a[side])
		})
		dout := d.rand(s.b*s.lq*s.h*s.dh, -1, 1)
		q, kv := bufs[0], bufs[1]
		dq, dkv := d.zeros(q[0].Len()), d.zeros(kv[0].Len())
		if s.lq == s.lk {
			dkv = dq // packed dqkv, as the models use it
		}
		d.run(func(k kernels.Trainer, side int) {
			g := kernels.AttentionGrad{Attention: a[side], DOut: dout[side]}
			w := s.h * s.dh
			if s.lq == s.lk {
				g.DQ, g.DK, g.DV = dq[side], dq[side].View(w, dq[side].Len()-w), dq[side].View(2*w, dq[side].Len()-2*w)
			} else {
				g.DQ, g.DK, g.DV = dq[side], dkv[side], dkv[side].View(w, dkv[side].Len()-w)
			}
			k.AttentionBackward(g)
		})
		for label, p := range map[string]pair{"dQ": dq, "dKV": dkv} {
			_, ref := d.get(p)
			d.check("AttentionBackward "+label+" "+name, p, 1e-4*maxAbs(ref), 1e-4)
		}
	}
}

// TestParityAttentionBF16 checks the tensor-core forward (precision BF16, head size 64) against
// the float32 CPU reference. Q, K, V and P are rounded to bfloat16 (unit roundoff 2^-9 ≈ 2e-3)
// with float32 accumulation, as PyTorch's bf16 SDPA: outputs (convex combinations of V in
// [-1, 1]) within 1e-2 absolute; probabilities and the head mean, rebuilt in float32 from the
// bf16 forward's log-sum-exp, within 1e-4 + 2e-3 relative. On the emulator (which rounds as
// the hardware does) the errors were at most 1.9e-3 (Lk = 1: the output is V in bf16) and
// 4e-4 relative.
func TestParityAttentionBF16(t *testing.T) {
	d := newDual(t, Options{Precision: BF16})
	if !d.g.tensorCoreAttention(64) {
		t.Skipf("%s has no bf16 tensor cores (needs sm_80+)", d.g.Name())
	}
	shapes := []attnShape{{1, 1, 1, 1, 64}, {2, 3, 63, 65, 64}, {1, 2, 130, 129, 64}, {2, 12, 197, 197, 64}, {1, 12, 320, 320, 64}}
	for _, s := range quick(shapes, 3) {
		for _, bias := range []bool{false, true} {
			name := fmt.Sprintf("%+v bias=%v", s, bias)
			a, bufs := attnOperands(d, s, bias)
			probs, mean := d.zeros(s.b*s.h*s.lq*s.lk), d.zeros(s.b*s.lk)
			d.run(func(k kernels.Trainer, side int) {
				x := a[side]
				x.Probs, x.HeadMean = probs[side], mean[side]
				k.Attention(x)
			})
			d.check("Attention bf16 out "+name, bufs[2], 1e-2, 0)
			d.check("Attention bf16 probs "+name, probs, 1e-4, 2e-3)
			d.check("Attention bf16 head mean "+name, mean, 1e-4, 2e-3)
		}
	}
}
