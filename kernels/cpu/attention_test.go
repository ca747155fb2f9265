package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// refAttention is the float64 reference over the same strided layout as kernels.Attention.
func refAttention(a kernels.Attention, q, k, v, bias []float32) (out, probs, mean []float64) {
	w := a.H * a.Dh
	out = make([]float64, a.B*a.Lq*w)
	probs = make([]float64, a.B*a.H*a.Lq*a.Lk)
	mean = make([]float64, a.B*a.Lk)
	for b := 0; b < a.B; b++ {
		for h := 0; h < a.H; h++ {
			for i := 0; i < a.Lq; i++ {
				s := make([]float64, a.Lk)
				m := math.Inf(-1)
				for j := 0; j < a.Lk; j++ {
					var d float64
					for e := 0; e < a.Dh; e++ {
						d += float64(q[b*a.QBatch+i*a.QRow+h*a.Dh+e]) * float64(k[b*a.KVBatch+j*a.KVRow+h*a.Dh+e])
					}
					s[j] = d * float64(a.Scale)
					if bias != nil {
						s[j] += float64(bias[b*a.Lk+j])
					}
					m = max(m, s[j])
				}
				var z float64
				for j := range s {
					s[j] = math.Exp(s[j] - m)
					z += s[j]
				}
				for j := range s {
					s[j] /= z
					probs[((b*a.H+h)*a.Lq+i)*a.Lk+j] = s[j]
					if i == a.HeadMeanRow {
						mean[b*a.Lk+j] += s[j] / float64(a.H)
					}
				}
				for e := 0; e < a.Dh; e++ {
					var o float64
					for j := range s {
						o += s[j] * float64(v[b*a.KVBatch+j*a.KVRow+h*a.Dh+e])
					}
					out[(b*a.Lq+i)*w+h*a.Dh+e] = o
				}
			}
		}
	}
	return out, probs, mean
}

func TestAttentionCrossCheck(t *testing.T) {
	type tc struct {
		B, H, Lq, Lk, Dh int
		packed, bias     bool
	}
	cases := []tc{
		{1, 1, 1, 1, 1, true, false},
		{2, 3, 5, 5, 4, true, false},
		{3, 4, 17, 17, 16, true, true},
		{2, 2, 7, 13, 8, false, true}, // cross-attention, Lq != Lk
		{1, 12, 50, 50, 64, true, false},
		{5, 1, 3, 300, 5, false, false},
	}
	r := rand.New(rand.NewPCG(15, 16))
	for name, be := range backends(t) {
		for _, c := range cases {
			w := c.H * c.Dh
			a := kernels.Attention{B: c.B, H: c.H, Lq: c.Lq, Lk: c.Lk, Dh: c.Dh, Scale: kernels.AttnScale(c.Dh), HeadMeanRow: c.Lq / 2}
			var q, k, v []float32
			var bufs []kernels.Buf
			if c.packed { // [B, L, 3*w] from one Linear
				qkv := randSlice(r, c.B*c.Lq*3*w)
				q, k, v = qkv, qkv[w:], qkv[2*w:]
				qb := upload(be, qkv)
				bufs = append(bufs, qb)
				a.Q, a.K, a.V = qb.View(0, qb.Len()-2*w), qb.View(w, qb.Len()-2*w), qb.View(2*w, qb.Len()-2*w)
				a.QRow, a.KVRow, a.QBatch, a.KVBatch = 3*w, 3*w, c.Lq*3*w, c.Lk*3*w
			} else { // Q [B, Lq, w] and packed kv [B, Lk, 2w]
				q = randSlice(r, c.B*c.Lq*w)
				kv := randSlice(r, c.B*c.Lk*2*w)
				k, v = kv, kv[w:]
				qb, kvb := upload(be, q), upload(be, kv)
				bufs = append(bufs, qb, kvb)
				a.Q, a.K, a.V = qb, kvb.View(0, kvb.Len()-w), kvb.View(w, kvb.Len()-w)
				a.QRow, a.QBatch, a.KVRow, a.KVBatch = w, c.Lq*w, 2*w, c.Lk*2*w
			}
			for i := range q {
				q[i] *= 3 // sharper softmax
			}
			be.Upload(bufs[0], q) // q is all of qkv when packed
			var bias []float32
			if c.bias {
				bias = randSlice(r, c.B*c.Lk)
				for i := range bias {
					if i%3 == 0 {
						bias[i] = -10000 // masked keys, as BERT's padding mask
					}
				}
				a.KeyBias = upload(be, bias)
				bufs = append(bufs, a.KeyBias)
			}
			a.Out, a.Probs, a.HeadMean = be.Alloc(c.B*c.Lq*w), be.Alloc(c.B*c.H*c.Lq*c.Lk), be.Alloc(c.B*c.Lk)
			bufs = append(bufs, a.Out, a.Probs, a.HeadMean)
			be.Attention(a)
			wantOut, wantP, wantM := refAttention(a, q, k, v, bias)
			tag := fmt.Sprintf("%s %+v", name, c)
			// Scores carry Dh float32 roundings, the softmax Lk more; outputs are sums of Lk
			// products with |v| < 1.
			tol := 4 * float64(c.Dh+c.Lk+8) * f32eps
			for _, o := range []struct {
				n    string
				buf  kernels.Buf
				want []float64
			}{{"out", a.Out, wantOut}, {"probs", a.Probs, wantP}, {"head mean", a.HeadMean, wantM}} {
				got := make([]float32, o.buf.Len())
				if err := be.Download(got, o.buf); err != nil {
					t.Fatal(err)
				}
				checkClose(t, tag+" "+o.n, got, o.want, nil, tol, tol)
			}
			// Without the optional outputs the result is the same.
			a.Probs, a.HeadMean = kernels.Buf{}, kernels.Buf{}
			be.Fill(a.Out, 0)
			be.Attention(a)
			got := make([]float32, a.Out.Len())
			_ = be.Download(got, a.Out)
			checkClose(t, tag+" out (no probs)", got, wantOut, nil, tol, tol)
			for _, b := range bufs {
				be.Free(b)
			}
			mustSync(t, be)
		}
		if st := be.Stats(); st.LiveBytes != 0 {
			t.Errorf("%s: %d bytes still live", name, st.LiveBytes)
		}
	}
}

func TestAttentionErrors(t *testing.T) {
	be := New(Options{Threads: 2})
	x := be.Alloc(64)
	defer func() { be.Free(x); _ = be.Sync() }()
	base := kernels.Attention{B: 1, H: 2, Lq: 2, Lk: 2, Dh: 4, Scale: 0.5, Q: x, K: x, V: x, QRow: 8, KVRow: 8, QBatch: 16, KVBatch: 16, Out: x}
	for _, m := range []func(a *kernels.Attention){
		func(a *kernels.Attention) { a.QRow = 4 },
		func(a *kernels.Attention) { a.Lk = 100 },
		func(a *kernels.Attention) { a.HeadMean, a.HeadMeanRow = x, 2 },
		func(a *kernels.Attention) { a.Probs = x.View(0, 3) },
		func(a *kernels.Attention) { a.H = 0 },
	} {
		a := base
		m(&a)
		be.Attention(a)
		if err := be.Sync(); err == nil {
			t.Errorf("attention %+v: no error", a)
		}
	}
}
