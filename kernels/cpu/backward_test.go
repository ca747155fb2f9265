package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// Finite-difference checks of every backward kernel: the analytic gradient of the scalar
// L = Σ r ⊙ forward(x) (r random) is compared with central differences (L(x+h) − L(x−h))/2h at
// sampled elements. The forward runs in float32, so the difference quotient carries rounding
// noise of ~1e-7·|L|/h plus O(h²) truncation: with h = 1e-2 the tolerance is 1e-2 of the
// largest gradient magnitude, far below the O(1) error of a wrong formula.

const (
	fdStep = 1e-2
	fdTol  = 1e-2
)

// fdCheck compares analytic gradient grad of x with central differences of loss at up to 40
// sampled elements of x (x is the live host memory of the forward's input).
func fdCheck(t *testing.T, name string, x []float32, grad []float32, loss func() float64) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(len(x)), 9))
	idx := r.Perm(len(x))
	if len(idx) > 40 {
		idx = idx[:40]
	}
	var scale float64
	for _, g := range grad {
		scale = max(scale, math.Abs(float64(g)))
	}
	got := make([]float32, len(idx))
	want := make([]float64, len(idx))
	for j, i := range idx {
		x0 := x[i]
		x[i] = x0 + fdStep
		lp := loss()
		x[i] = x0 - fdStep
		lm := loss()
		x[i] = x0
		want[j] = (lp - lm) / (2 * fdStep)
		got[j] = grad[i]
	}
	checkClose(t, name, got, want, nil, fdTol*max(scale, 1e-3), 0)
}

// dot64 is Σ a·b in float64.
func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestLayerNormBackwardFD(t *testing.T) {
	for _, sz := range [][2]int{{1, 3}, {7, 17}, {33, 64}} {
		rows, dim := sz[0], sz[1]
		b := New(Options{Threads: 3})
		r := rand.New(rand.NewPCG(1, uint64(rows)))
		x, g, be := upload(b, randSlice(r, rows*dim)), upload(b, randSlice(r, dim)), upload(b, randSlice(r, dim))
		y, mean, rstd := b.Alloc(rows*dim), b.Alloc(rows), b.Alloc(rows)
		rw := randSlice(r, rows*dim)
		loss := func() float64 {
			b.LayerNorm(y, x, g, be, mean, rstd, rows, dim, 1e-6)
			return dot64(b.Data(y), rw)
		}
		loss()
		dy, dx, dg, db := upload(b, rw), b.Alloc(rows*dim), b.Alloc(dim), b.Alloc(dim)
		b.Fill(dg, 0.5) // accumulation: the result must be 0.5 + gradient
		b.LayerNormBackward(dx, dg, db, dy, x, g, mean, rstd, rows, dim)
		mustSync(t, b)
		dgs := append([]float32(nil), b.Data(dg)...)
		for i := range dgs {
			dgs[i] -= 0.5
		}
		fdCheck(t, "dx", b.Data(x), b.Data(dx), loss)
		fdCheck(t, "dgamma", b.Data(g), dgs, loss)
		fdCheck(t, "dbeta", b.Data(be), b.Data(db), loss)
		// dx may alias dy.
		b.LayerNormBackward(dy, kernels.Buf{}, kernels.Buf{}, dy, x, g, mean, rstd, rows, dim)
		mustSync(t, b)
		checkClose(t, "aliased dx", b.Data(dy), to64(b.Data(dx)), nil, 0, 0)
	}
}

func TestGELUBackwardFD(t *testing.T) {
	b := New(Options{Threads: 3})
	r := rand.New(rand.NewPCG(2, 2))
	xs := randSlice(r, 1000)
	for i := range xs {
		xs[i] *= 4
	}
	x, y := upload(b, xs), b.Alloc(1000)
	rw := randSlice(r, 1000)
	loss := func() float64 { b.GELU(y, x); return dot64(b.Data(y), rw) }
	dx := b.Alloc(1000)
	b.GELUBackward(dx, upload(b, rw), x)
	mustSync(t, b)
	fdCheck(t, "gelu dx", b.Data(x), b.Data(dx), loss)
}

// attnCase allocates a packed qkv attention problem [B, L, 3·H·Dh].
func attnCase(b *Backend, r *rand.Rand, B, H, L, Dh int) (kernels.Attention, kernels.Buf) {
	w := H * Dh
	qkv := upload(b, randSlice(r, B*L*3*w))
	n := B * L * 3 * w
	a := kernels.Attention{B: B, H: H, Lq: L, Lk: L, Dh: Dh, Scale: float32(1 / math.Sqrt(float64(Dh))),
		Q: qkv.View(0, n), K: qkv.View(w, n-w), V: qkv.View(2*w, n-2*w), QRow: 3 * w, KVRow: 3 * w,
		QBatch: L * 3 * w, KVBatch: L * 3 * w, Out: b.Alloc(B * L * w), Probs: b.Alloc(B * H * L * L)}
	return a, qkv
}

func TestAttentionBackwardFD(t *testing.T) {
	for _, c := range [][4]int{{1, 1, 3, 2}, {2, 3, 9, 4}, {2, 2, 33, 8}} {
		B, H, L, Dh := c[0], c[1], c[2], c[3]
		b := New(Options{Threads: 3})
		r := rand.New(rand.NewPCG(3, uint64(L)))
		a, qkv := attnCase(b, r, B, H, L, Dh)
		w := H * Dh
		rw := randSlice(r, B*L*w)
		loss := func() float64 { b.Attention(a); return dot64(b.Data(a.Out), rw) }
		loss()
		n := B * L * 3 * w
		dqkv := b.Alloc(n)
		b.AttentionBackward(kernels.AttentionGrad{Attention: a, DOut: upload(b, rw), DQ: dqkv.View(0, n), DK: dqkv.View(w, n-w), DV: dqkv.View(2*w, n-2*w)})
		mustSync(t, b)
		fdCheck(t, "dqkv", b.Data(qkv), b.Data(dqkv), loss)
		// The fast path (GEMMs on strided views) against a direct triple loop, on the
		// probabilities of the unperturbed input.
		loss()
		ref := attnBackwardRef(a, b.Data(qkv), b.Data(a.Probs), rw)
		checkClose(t, "dqkv vs loops", b.Data(dqkv), ref, nil, 1e-5, 1e-4)
	}
}

// attnBackwardRef is the plain-loop backward of packed-qkv attention, in float64.
func attnBackwardRef(a kernels.Attention, qkv, probs, dout []float32) []float64 {
	w := a.H * a.Dh
	d := make([]float64, len(qkv))
	L := a.Lq
	at := func(bi, l, part, h, j int) int { return bi*L*3*w + l*3*w + part*w + h*a.Dh + j }
	for bi := 0; bi < a.B; bi++ {
		for h := 0; h < a.H; h++ {
			p := probs[(bi*a.H+h)*L*L:]
			for i := 0; i < L; i++ {
				dp := make([]float64, L)
				var s float64
				for j := 0; j < L; j++ {
					for e := 0; e < a.Dh; e++ {
						dp[j] += float64(dout[(bi*L+i)*w+h*a.Dh+e]) * float64(qkv[at(bi, j, 2, h, e)])
						d[at(bi, j, 2, h, e)] += float64(p[i*L+j]) * float64(dout[(bi*L+i)*w+h*a.Dh+e])
					}
					s += dp[j] * float64(p[i*L+j])
				}
				for j := 0; j < L; j++ {
					ds := float64(p[i*L+j]) * (dp[j] - s) * float64(a.Scale)
					for e := 0; e < a.Dh; e++ {
						d[at(bi, i, 0, h, e)] += ds * float64(qkv[at(bi, j, 1, h, e)])
						d[at(bi, j, 1, h, e)] += ds * float64(qkv[at(bi, i, 0, h, e)])
					}
				}
			}
		}
	}
	return d
}

func TestL2NormalizeBackwardFD(t *testing.T) {
	b := New(Options{Threads: 3})
	r := rand.New(rand.NewPCG(4, 4))
	rows, dim := 13, 32
	x, y := upload(b, randSlice(r, rows*dim)), b.Alloc(rows*dim)
	rw := randSlice(r, rows*dim)
	loss := func() float64 { b.L2Normalize(y, x, rows, dim, 0); return dot64(b.Data(y), rw) }
	dx := b.Alloc(rows * dim)
	b.L2NormalizeBackward(dx, upload(b, rw), x, rows, dim, 0)
	mustSync(t, b)
	fdCheck(t, "l2 dx", b.Data(x), b.Data(dx), loss)
}

// TestAlignmentLoss: the loss equals mean(2 − 2⟨s, t⟩) computed directly, and the gradient
// matches finite differences.
func TestAlignmentLoss(t *testing.T) {
	b := New(Options{Threads: 3})
	r := rand.New(rand.NewPCG(5, 5))
	rows, dim := 37, 16
	s, tt := upload(b, randSlice(r, rows*dim)), upload(b, randSlice(r, rows*dim))
	l, ds := b.Alloc(1), b.Alloc(rows*dim)
	loss := func() float64 { b.AlignmentLoss(l, ds, s, tt, rows, dim); return float64(b.Data(l)[0]) }
	got := loss()
	mustSync(t, b)
	var want float64
	for i := 0; i < rows; i++ {
		want += 2 - 2*dot64(b.Data(s)[i*dim:(i+1)*dim], b.Data(tt)[i*dim:(i+1)*dim])
	}
	want /= float64(rows)
	if math.Abs(got-want) > 1e-6*math.Abs(want) {
		t.Fatalf("loss %.9g, direct %.9g", got, want)
	}
	g := append([]float32(nil), b.Data(ds)...)
	fdCheck(t, "alignment ds", b.Data(s), g, loss)
}

func TestSumRowsScaleRowsSumSquares(t *testing.T) {
	for name, b := range backends(t) {
		r := rand.New(rand.NewPCG(6, 6))
		rows, dim := 131, 67
		xs := randSlice(r, rows*dim)
		x, d := upload(b, xs), upload(b, make([]float32, dim))
		b.Fill(d, 1)
		b.SumRows(d, x, rows, dim)
		want := make([]float64, dim)
		for j := range want {
			want[j] = 1
			for i := 0; i < rows; i++ {
				want[j] += float64(xs[i*dim+j])
			}
		}
		mustSync(t, b)
		checkClose(t, name+" SumRows", b.Data(d), want, nil, 1e-5, 1e-6)
		s := randSlice(r, rows)
		y := b.Alloc(rows * dim)
		b.ScaleRows(y, x, upload(b, s), rows, dim)
		ws := make([]float64, rows*dim)
		var sq float64
		for i := range ws {
			ws[i] = float64(xs[i]) * float64(s[i/dim])
			sq += float64(xs[i]) * float64(xs[i])
		}
		mustSync(t, b)
		checkClose(t, name+" ScaleRows", b.Data(y), ws, nil, 0, 1e-7)
		o := b.Alloc(1)
		b.SumSquares(o, x)
		mustSync(t, b)
		checkClose(t, name+" SumSquares", b.Data(o), []float64{sq}, nil, 0, 1e-6)
	}
}

// TestAdamWMatchesReference: three steps of the kernel against a float64 transcription of
// torch.optim.AdamW, with weight decay and a gradient scale.
func TestAdamWMatchesReference(t *testing.T) {
	b := New(Options{Threads: 3})
	r := rand.New(rand.NewPCG(7, 7))
	n := 50000
	ps, ms, vs := randSlice(r, n), make([]float32, n), make([]float32, n)
	p, m, v := upload(b, ps), upload(b, ms), upload(b, vs)
	p64, m64, v64 := to64(ps), make([]float64, n), make([]float64, n)
	const lr, wd, b1, b2, eps, gsc = 1e-3, 0.05, 0.9, 0.95, 1e-8, 0.5
	for step := 1; step <= 3; step++ {
		gs := randSlice(r, n)
		b.AdamW(kernels.AdamWStep{Param: p, Grad: upload(b, gs), M: m, V: v, LR: lr, WeightDecay: wd, Beta1: b1, Beta2: b2, Eps: eps, Step: step, GradScale: gsc})
		bc1, bc2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
		for i := range p64 {
			g := float64(gs[i]) * gsc
			p64[i] *= 1 - lr*wd
			m64[i] = b1*m64[i] + (1-b1)*g
			v64[i] = b2*v64[i] + (1-b2)*g*g
			p64[i] -= lr / bc1 * m64[i] / (math.Sqrt(v64[i])/math.Sqrt(bc2) + eps)
		}
	}
	mustSync(t, b)
	checkClose(t, "AdamW params", b.Data(p), p64, nil, 1e-6, 1e-5)
	b.AdamW(kernels.AdamWStep{Param: p, Grad: p, M: m, V: v, Beta1: 0.9, Beta2: 0.95, Step: 0})
	if b.Sync() == nil {
		t.Error("step 0 accepted")
	}
}

// TestGELUBackwardMatchesExact: the fast derivative stays within 2e-7 absolute of the erf-exact
// one on a dense grid over [−12, 12] (beyond, both are 0 or 1 to float32 precision), and the
// kernel output equals dy·geluGrad rounded once.
func TestGELUBackwardMatchesExact(t *testing.T) {
	var worst, at float64
	for i := -1200000; i <= 1200000; i++ {
		x := float64(i) * 1e-5
		if d := math.Abs(geluGrad(x) - geluGradExact(x)); d > worst {
			worst, at = d, x
		}
	}
	if worst > 2e-7 {
		t.Fatalf("fast GELU' differs from the exact one by %.3g at x = %v", worst, at)
	}
	t.Logf("max |fast − exact| GELU' = %.3g at x = %.5f", worst, at)
}
