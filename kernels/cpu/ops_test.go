package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// Sizes straddle the elementwise chunk grain (elemGrain = 16384 elements per goroutine) and the
// row-count splits.
var elemSizes = []int{1, 7, elemGrain - 1, elemGrain, elemGrain + 1, 3*elemGrain + 5}

// rowShapes straddle the row grain (elemGrain/dim rows per goroutine).
var rowShapes = [][2]int{{1, 1}, {3, 5}, {2, 64}, {257, 64}, {255, 65}, {20, 1000}, {3, 4097}}

const f32eps = 0x1p-24 // unit roundoff of float32

func TestElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ops := []struct {
		name string
		run  func(b *Backend, y, x kernels.Buf)
		ref  func(float64) float64
		rtol float64 // reason: one float32 rounding of the result plus exp32 / float32 arithmetic
	}{
		{"GELU", func(b *Backend, y, x kernels.Buf) { b.GELU(y, x) },
			func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }, 2 * f32eps},
		{"QuickGELU", func(b *Backend, y, x kernels.Buf) { b.QuickGELU(y, x) },
			func(x float64) float64 { return x / (1 + math.Exp(-1.702*x)) }, 8 * f32eps},
		{"Scale", func(b *Backend, y, x kernels.Buf) { b.Scale(y, x, -0.3) },
			func(x float64) float64 { return -0.3 * x }, 2 * f32eps},
		{"Copy", func(b *Backend, y, x kernels.Buf) { b.Copy(y, x) },
			func(x float64) float64 { return x }, 0},
	}
	for name, be := range backends(t) {
		for _, op := range ops {
			for _, n := range elemSizes {
				x := randSlice(r, n)
				for i := range x {
					x[i] *= 8 // cover the tails of the activations
				}
				xb, yb := upload(be, x), be.Alloc(n)
				op.run(be, yb, xb)
				got := make([]float32, n)
				if err := be.Download(got, yb); err != nil {
					t.Fatal(err)
				}
				want := make([]float64, n)
				for i, v := range x {
					want[i] = op.ref(float64(v))
				}
				checkClose(t, fmt.Sprintf("%s %s n=%d", name, op.name, n), got, want, nil, 1e-37, op.rtol)
				op.run(be, xb, xb) // in place
				if err := be.Download(got, xb); err != nil {
					t.Fatal(err)
				}
				checkClose(t, fmt.Sprintf("%s %s in place n=%d", name, op.name, n), got, want, nil, 1e-37, op.rtol)
				be.Free(xb)
				be.Free(yb)
				mustSync(t, be)
			}
		}
		if st := be.Stats(); st.LiveBytes != 0 {
			t.Errorf("%s: %d bytes still live", name, st.LiveBytes)
		}
	}
}

func TestAddFill(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for name, be := range backends(t) {
		for _, n := range elemSizes {
			a, c := randSlice(r, n), randSlice(r, n)
			ab, cb, yb := upload(be, a), upload(be, c), be.Alloc(n)
			be.Add(yb, ab, cb)
			be.Add(ab, ab, cb) // aliasing the first operand
			got, got2 := make([]float32, n), make([]float32, n)
			_ = be.Download(got, yb)
			_ = be.Download(got2, ab)
			want := make([]float64, n)
			for i := range a {
				want[i] = float64(a[i] + c[i]) // exactly one float32 rounding
			}
			checkClose(t, fmt.Sprintf("%s Add n=%d", name, n), got, want, nil, 0, 0)
			checkClose(t, fmt.Sprintf("%s Add in place n=%d", name, n), got2, want, nil, 0, 0)
			be.Fill(yb, 2.5)
			_ = be.Download(got, yb)
			for i := range want {
				want[i] = 2.5
			}
			checkClose(t, fmt.Sprintf("%s Fill n=%d", name, n), got, want, nil, 0, 0)
			be.Free(ab)
			be.Free(cb)
			be.Free(yb)
			mustSync(t, be)
		}
	}
}

func TestRowOps(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for name, be := range backends(t) {
		for _, s := range rowShapes {
			rows, dim := s[0], s[1]
			n := rows * dim
			x := randSlice(r, n)
			for i := range x {
				x[i] = 3*x[i] + 0.5 // nonzero mean, as LayerNorm inputs have
			}
			g, bt := randSlice(r, dim), randSlice(r, dim)
			xb, yb, gb, bb := upload(be, x), be.Alloc(n), upload(be, g), upload(be, bt)
			mb, rb := be.Alloc(rows), be.Alloc(rows)
			tag := fmt.Sprintf("%s [%d,%d]", name, rows, dim)
			got, gm, gr := make([]float32, n), make([]float32, rows), make([]float32, rows)

			// LayerNorm against a float64 two-pass reference. Tolerance: the result is
			// (x-mean)*rstd*gamma+beta in float32, a few roundings of values of magnitude ~|gamma|·4.
			be.LayerNorm(yb, xb, gb, bb, mb, rb, rows, dim, 1e-5)
			_ = be.Download(got, yb)
			_ = be.Download(gm, mb)
			_ = be.Download(gr, rb)
			want, wm, wr := make([]float64, n), make([]float64, rows), make([]float64, rows)
			for i := 0; i < rows; i++ {
				var s, v float64
				for j := 0; j < dim; j++ {
					s += float64(x[i*dim+j])
				}
				mu := s / float64(dim)
				for j := 0; j < dim; j++ {
					d := float64(x[i*dim+j]) - mu
					v += d * d
				}
				rs := 1 / math.Sqrt(v/float64(dim)+1e-5)
				wm[i], wr[i] = mu, rs
				for j := 0; j < dim; j++ {
					want[i*dim+j] = (float64(x[i*dim+j])-mu)*rs*float64(g[j]) + float64(bt[j])
				}
			}
			checkClose(t, tag+" LayerNorm", got, want, nil, 16*f32eps*4, 8*f32eps)
			checkClose(t, tag+" LayerNorm mean", gm, wm, nil, 1e-30, f32eps)
			checkClose(t, tag+" LayerNorm rstd", gr, wr, nil, 1e-30, f32eps)
			be.LayerNorm(yb, xb, gb, bb, kernels.Buf{}, kernels.Buf{}, rows, dim, 1e-5) // stats optional
			mustSync(t, be)

			// Softmax: each output is exp32 (1 ulp) times 1/sum (a few roundings).
			be.Softmax(yb, xb, rows, dim)
			_ = be.Download(got, yb)
			for i := 0; i < rows; i++ {
				m := math.Inf(-1)
				for j := 0; j < dim; j++ {
					m = max(m, float64(x[i*dim+j]))
				}
				var s float64
				for j := 0; j < dim; j++ {
					s += math.Exp(float64(x[i*dim+j]) - m)
				}
				for j := 0; j < dim; j++ {
					want[i*dim+j] = math.Exp(float64(x[i*dim+j])-m) / s
				}
			}
			// float32 summation of dim terms: relative error up to dim·u on the sum.
			checkClose(t, tag+" Softmax", got, want, nil, 1e-30, float64(dim+8)*f32eps)

			// L2Normalize.
			be.L2Normalize(yb, xb, rows, dim, 1e-12)
			_ = be.Download(got, yb)
			for i := 0; i < rows; i++ {
				var s float64
				for j := 0; j < dim; j++ {
					s += float64(x[i*dim+j]) * float64(x[i*dim+j])
				}
				for j := 0; j < dim; j++ {
					want[i*dim+j] = float64(x[i*dim+j]) / max(math.Sqrt(s), 1e-12)
				}
			}
			checkClose(t, tag+" L2Normalize", got, want, nil, 1e-30, 3*f32eps)

			// AddBias (in place).
			be.Copy(yb, xb)
			be.AddBias(yb, gb, rows, dim)
			_ = be.Download(got, yb)
			for i := 0; i < rows; i++ {
				for j := 0; j < dim; j++ {
					want[i*dim+j] = float64(x[i*dim+j] + g[j])
				}
			}
			checkClose(t, tag+" AddBias", got, want, nil, 0, 0)

			for _, b := range []kernels.Buf{xb, yb, gb, bb, mb, rb} {
				be.Free(b)
			}
			mustSync(t, be)
		}
		if st := be.Stats(); st.LiveBytes != 0 {
			t.Errorf("%s: %d bytes still live", name, st.LiveBytes)
		}
	}
}

// TestL2NormalizeZeroRow: F.normalize semantics, a zero row stays zero with eps > 0.
func TestL2NormalizeZeroRow(t *testing.T) {
	be := New(Options{Threads: 2})
	x := be.Alloc(8)
	be.L2Normalize(x, x, 2, 4, 1e-12)
	got := make([]float32, 8)
	if err := be.Download(got, x); err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v != 0 {
			t.Fatalf("zero rows normalised to %v, want zeros", got)
		}
	}
	be.Free(x)
	mustSync(t, be)
}

func TestCopyRows(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for name, be := range backends(t) {
		for _, s := range [][2]int{{1, 1}, {5, 3}, {300, 64}, {2, 9000}} {
			rows, cols := s[0], s[1]
			lds, ldd := cols+3, cols+1
			src := randSlice(r, rows*lds)
			dst := randSlice(r, rows*ldd)
			sb, db := upload(be, src), upload(be, dst)
			be.CopyRows(db, ldd, sb, lds, rows, cols)
			got := make([]float32, len(dst))
			if err := be.Download(got, db); err != nil {
				t.Fatal(err)
			}
			want := to64(dst)
			for i := 0; i < rows; i++ {
				for j := 0; j < cols; j++ {
					want[i*ldd+j] = float64(src[i*lds+j])
				}
			}
			checkClose(t, fmt.Sprintf("%s CopyRows %v", name, s), got, want, nil, 0, 0)
			be.Free(sb)
			be.Free(db)
			mustSync(t, be)
		}
	}
}

func TestGatherScatter(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for name, be := range backends(t) {
		for _, s := range [][3]int{{1, 1, 1}, {10, 4, 7}, {300, 64, 200}, {50, 3000, 40}} {
			tableRows, dim, n := s[0], s[1], s[2]
			table := randSlice(r, tableRows*dim)
			idx := make([]int32, n)
			perm := r.Perm(tableRows)
			for i := range idx {
				idx[i] = int32(perm[i%tableRows])
			}
			tb, ib := upload(be, table), be.AllocIndex(n)
			be.UploadIndex(ib, idx)
			rb := be.Alloc(n * dim)
			be.GatherRows(rb, tb, ib, dim)
			rows := make([]float32, n*dim)
			_ = be.Download(rows, rb)
			want := make([]float64, n*dim)
			for i, j := range idx {
				for q := 0; q < dim; q++ {
					want[i*dim+q] = float64(table[int(j)*dim+q])
				}
			}
			tag := fmt.Sprintf("%s %v", name, s)
			checkClose(t, tag+" GatherRows", rows, want, nil, 0, 0)

			// ScatterAddRows of the gathered rows doubles every row that was hit once per hit.
			be.ScatterAddRows(tb, rb, ib, dim)
			got := make([]float32, len(table))
			_ = be.Download(got, tb)
			wantT := to64(table)
			for _, j := range idx {
				for q := 0; q < dim; q++ {
					wantT[int(j)*dim+q] += float64(table[int(j)*dim+q])
				}
			}
			checkClose(t, tag+" ScatterAddRows", got, wantT, nil, 0, 2*f32eps*float64(n/tableRows+1))

			// ScatterRows with distinct indices writes exactly those rows.
			if n <= tableRows {
				be.Upload(tb, table)
				src := randSlice(r, n*dim)
				be.Upload(rb, src)
				be.ScatterRows(tb, rb, ib, dim)
				_ = be.Download(got, tb)
				wantT = to64(table)
				for i, j := range idx {
					for q := 0; q < dim; q++ {
						wantT[int(j)*dim+q] = float64(src[i*dim+q])
					}
				}
				checkClose(t, tag+" ScatterRows", got, wantT, nil, 0, 0)
			}
			be.Free(tb)
			be.Free(ib)
			be.Free(rb)
			mustSync(t, be)
		}
	}
}

func TestIndexErrors(t *testing.T) {
	be := New(Options{Threads: 2})
	table, rows, idx := be.Alloc(12), be.Alloc(6), be.AllocIndex(2)
	be.UploadIndex(idx, []int32{1, 4})
	be.GatherRows(rows, table, idx, 3)
	if err := be.Sync(); err == nil {
		t.Error("GatherRows with index 4 of 4 rows: no error")
	}
	be.UploadIndex(idx, []int32{1, 1})
	be.ScatterRows(table, rows, idx, 3)
	if err := be.Sync(); err == nil {
		t.Error("ScatterRows with a repeated index: no error")
	}
	be.GatherRows(rows, table, rows, 3) // float buffer as index
	if err := be.Sync(); err == nil {
		t.Error("float32 buffer used as indices: no error")
	}
	be.Free(table)
	be.Free(rows)
	be.Free(idx)
	mustSync(t, be)
}

// TestExp32 sweeps the float32 domain of exp32 (every 1021st bit pattern from -90 to 90 plus
// the special values) against math.Exp rounded to float32: at most one ulp apart.
func TestExp32(t *testing.T) {
	lo, hi := math.Float32bits(-90), math.Float32bits(90)
	check := func(x float32) {
		got := exp32(x)
		want := float32(math.Exp(float64(x)))
		if want != 0 && want < 0x1p-126 { // subnormal results flush to zero by design
			if got != 0 {
				t.Fatalf("exp32(%g) = %g, want 0 (flush)", x, got)
			}
			return
		}
		d := int64(math.Float32bits(got)) - int64(math.Float32bits(want))
		if d < -1 || d > 1 {
			t.Fatalf("exp32(%g) = %g, math.Exp gives %g (%d ulp apart)", x, got, want, d)
		}
	}
	for u := uint32(0); u < hi; u += 1021 { // [0, 90]
		check(math.Float32frombits(u))
	}
	for u := uint32(1 << 31); u < lo; u += 1021 { // [-90, -0]
		check(math.Float32frombits(u))
	}
	for _, x := range []float32{0, 1, -1, 88.72283, 88.7229, -87.33654, -87.3366, float32(math.Inf(1))} {
		check(x)
	}
	if exp32(float32(math.Inf(-1))) != 0 || !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Fatal("exp32 of -Inf or NaN wrong")
	}
}

// TestExpCore: the inlined loop kernel agrees with exp32 within one float32 ulp over its whole
// clamped domain, and the clamp keeps NaN and saturates the ends.
func TestExpCore(t *testing.T) {
	for u := math.Float32bits(expMax); u >= 1021; u -= 1021 { // (0, expMax]
		checkExpCore(t, math.Float32frombits(u))
	}
	for u := uint32(1 << 31); u < math.Float32bits(expMin); u += 1021 { // [expMin, -0]
		checkExpCore(t, math.Float32frombits(u))
	}
	if !math.IsNaN(clampExp(math.NaN())) || clampExp(-1e9) != expMin || clampExp(1e9) != expMax {
		t.Error("clampExp")
	}
}

func checkExpCore(t *testing.T, x float32) {
	t.Helper()
	got := float32(expCore(float64(x)))
	want := float32(math.Exp(float64(x)))
	if want < 0x1p-126 {
		return // subnormal: exp32 flushes, expCore may not; both are < 1.2e-38
	}
	if d := int64(math.Float32bits(got)) - int64(math.Float32bits(want)); d < -1 || d > 1 {
		t.Fatalf("expCore(%g) = %g, math.Exp gives %g (%d ulp)", x, got, want, d)
	}
}

// TestCLoopsMatchGo: the vectorised C loops (cgo builds) give bit-identical results to the Go
// loops at lengths around vector and chunk boundaries.
func TestCLoopsMatchGo(t *testing.T) {
	if !haveCElem {
		t.Skip("built without cgo: only the Go loops exist")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 3, 4, 7, 8, 9, 16, 17, 197, 1000, 4099} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 60 // reach the clamped ends of exp
		}
		yg, yc := make([]float32, n), make([]float32, n)
		quickGELU(yg, x)
		quickGELUC(yc, x)
		for i := range yg {
			if math.Float32bits(yg[i]) != math.Float32bits(yc[i]) {
				t.Fatalf("QuickGELU n=%d [%d] x=%g: Go %g, C %g", n, i, x[i], yg[i], yc[i])
			}
		}
		for _, cols := range []int{1, 5, 8, 197} {
			rows := max(1, n/cols)
			sg := append([]float32(nil), x[:rows*min(cols, n)]...)
			if len(sg) < rows*cols {
				continue
			}
			sc := append([]float32(nil), sg...)
			for i := 0; i < rows; i++ {
				softmaxRow(sg[i*cols:(i+1)*cols], sg[i*cols:(i+1)*cols])
			}
			softmaxRowsC(sc, rows, cols)
			for i := range sg {
				if math.Float32bits(sg[i]) != math.Float32bits(sc[i]) {
					t.Fatalf("softmax %dx%d [%d]: Go %g, C %g", rows, cols, i, sg[i], sc[i])
				}
			}
		}
	}
}
