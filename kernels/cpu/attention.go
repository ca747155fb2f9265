package cpu

import "github.com/umt-dev/umt/kernels"

// Attention runs batched multi-head attention (see kernels.Attention), one (batch, head) pair
// per work item: S = Scale·Q_h·K_hᵀ (+ KeyBias) → row softmax → Out_h = P·V_h, the two products
// by single-threaded GEMM straight on the strided views (no repacking of heads).
func (b *Backend) Attention(a kernels.Attention) {
	if !b.ok(a.Check()) {
		return
	}
	q, k, v, out := b.f32(a.Q, "Attention"), b.f32(a.K, "Attention"), b.f32(a.V, "Attention"), b.f32(a.Out, "Attention")
	if q == nil || k == nil || v == nil || out == nil {
		return
	}
	var bias, probs, mean []float32
	if !a.KeyBias.IsZero() {
		bias = b.f32(a.KeyBias, "Attention")
	}
	if !a.Probs.IsZero() {
		probs = b.f32(a.Probs, "Attention")
	}
	var headRows []float32 // [B, H, Lk]: query row HeadMeanRow of each head, reduced at the end
	if !a.HeadMean.IsZero() {
		mean = b.f32(a.HeadMean, "Attention")
		headRows = make([]float32, a.B*a.H*a.Lk)
	}
	if b.err != nil {
		return
	}
	w, lq, lk := a.H*a.Dh, a.Lq, a.Lk
	for len(b.scratch) < b.threads {
		b.scratch = append(b.scratch, nil)
	}
	b.parallelWorkers(a.B*a.H, func(worker, item int) {
		bi, h := item/a.H, item%a.H
		var s []float32 // [Lq, Lk] scores, then probabilities
		if probs != nil {
			s = probs[item*lq*lk : (item+1)*lq*lk]
		} else {
			if cap(b.scratch[worker]) < lq*lk {
				b.scratch[worker] = make([]float32, lq*lk)
			}
			s = b.scratch[worker][:lq*lk]
		}
		qh := q[bi*a.QBatch+h*a.Dh:]
		kh := k[bi*a.KVBatch+h*a.Dh:]
		vh := v[bi*a.KVBatch+h*a.Dh:]
		b.sgemm(false, true, lq, lk, a.Dh, a.Scale, qh, a.QRow, kh, a.KVRow, 0, s, lk)
		if bias != nil {
			for r := 0; r < lq; r++ {
				row := s[r*lk : r*lk+lk]
				for j, x := range bias[bi*lk : bi*lk+lk] {
					row[j] += x
				}
			}
		}
		b.softmaxRows(s, lq, lk)
		if headRows != nil {
			copy(headRows[item*lk:(item+1)*lk], s[a.HeadMeanRow*lk:a.HeadMeanRow*lk+lk])
		}
		b.sgemm(false, false, lq, a.Dh, lk, 1, s, lk, vh, a.KVRow, 0, out[bi*lq*w+h*a.Dh:], w)
	})
	if headRows != nil {
		inv := 1 / float64(a.H)
		for bi := 0; bi < a.B; bi++ {
			for j := 0; j < lk; j++ {
				var t float64
				for h := 0; h < a.H; h++ {
					t += float64(headRows[(bi*a.H+h)*lk+j])
				}
				mean[bi*lk+j] = float32(t * inv)
			}
		}
	}
}
