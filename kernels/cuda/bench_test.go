package cuda

import (
	"fmt"
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// GPU micro-benchmarks of the operations that dominate the teacher and the stage-1 step, in
// the shapes they have there. Each reports TFLOP/s (or GB/s); docs/bench/gpu.md lists the
// command and records the figures. They skip without a GPU.

func benchGPU(b *testing.B, prec Precision) *Backend {
	g := gpuOrSkip(b, Options{Precision: prec})
	b.Cleanup(func() { g.Close() })
	return g
}

// BenchmarkGPUGemm: the ViT-B linear layers of the teacher (512 frames x 197 tokens) and of
// the student (64 clips x 320 visible tokens).
func BenchmarkGPUGemm(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{
		{"teacher-qkv", 512 * 197, 2304, 768}, {"teacher-fc1", 512 * 197, 3072, 768}, {"teacher-fc2", 512 * 197, 768, 3072},
		{"student-qkv", 64 * 320, 2304, 768}, {"student-fc2", 64 * 320, 768, 3072},
	}
	for _, prec := range []Precision{FP32, TF32, BF16} {
		for _, s := range shapes {
			b.Run(fmt.Sprintf("%s/%s", prec, s.name), func(b *testing.B) {
				g := benchGPU(b, prec)
				x, w, y := g.Alloc(s.m*s.k), g.Alloc(s.n*s.k), g.Alloc(s.m*s.n)
				defer func() { g.Free(x); g.Free(w); g.Free(y) }()
				gm := kernels.Gemm{M: s.m, N: s.n, K: s.k, Alpha: 1, A: x, LDA: s.k, B: w, LDB: s.k, TransB: true, C: y, LDC: s.n}
				g.Gemm(gm)
				if err := g.Sync(); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					g.Gemm(gm)
				}
				if err := g.Sync(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
			})
		}
	}
}

// BenchmarkGPUAttention: the teacher's attention (512 frames, 12 heads, 197 tokens, head 64),
// with and without the head mean of the CLS row; the student's (64 clips, 320 tokens) forward
// with Probs and backward.
func BenchmarkGPUAttention(b *testing.B) {
	for _, c := range []struct {
		name        string
		prec        Precision
		bs, l       int
		mean, train bool
	}{
		{"teacher-fp32", FP32, 512, 197, false, false}, {"teacher-bf16-tensorcores", BF16, 512, 197, false, false},
		{"teacher-cls-mean-bf16", BF16, 512, 197, true, false}, {"student-train-fp32", FP32, 64, 320, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := benchGPU(b, c.prec)
			h, dh := 12, 64
			w := h * dh
			qkv, out := g.Alloc(c.bs*c.l*3*w), g.Alloc(c.bs*c.l*w)
			a := kernels.Attention{B: c.bs, H: h, Lq: c.l, Lk: c.l, Dh: dh, Scale: float32(1 / math.Sqrt(float64(dh))),
				Q: qkv, K: qkv.View(w, qkv.Len()-w), V: qkv.View(2*w, qkv.Len()-2*w), QRow: 3 * w, KVRow: 3 * w,
				QBatch: c.l * 3 * w, KVBatch: c.l * 3 * w, Out: out}
			var extra []kernels.Buf
			if c.mean {
				a.HeadMean = g.Alloc(c.bs * c.l)
				extra = append(extra, a.HeadMean)
			}
			var gr kernels.AttentionGrad
			if c.train {
				a.Probs = g.Alloc(c.bs * h * c.l * c.l)
				dqkv, dout := g.Alloc(qkv.Len()), g.Alloc(out.Len())
				extra = append(extra, a.Probs, dqkv, dout)
				gr = kernels.AttentionGrad{Attention: a, DOut: dout, DQ: dqkv, DK: dqkv.View(w, dqkv.Len()-w), DV: dqkv.View(2*w, dqkv.Len()-2*w)}
			}
			defer func() {
				g.Free(qkv)
				g.Free(out)
				for _, e := range extra {
					g.Free(e)
				}
			}()
			step := func() {
				g.Attention(a)
				if c.train {
					g.AttentionBackward(gr)
				}
			}
			step()
			if err := g.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			if err := g.Sync(); err != nil {
				b.Fatal(err)
			}
			flops := 4 * float64(c.bs*h) * float64(c.l) * float64(c.l) * float64(dh) // QK^T and PV
			if c.train {
				flops *= 3.5 // backward: dV, dP (twice), dQ, dK
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

// BenchmarkGPULayerNorm: the student's LayerNorm over 64 x 320 tokens of 768, forward and
// backward; reports GB/s of the tensors read and written.
func BenchmarkGPULayerNorm(b *testing.B) {
	g := benchGPU(b, FP32)
	rows, dim := 64*320, 768
	x, y, dy, dx := g.Alloc(rows*dim), g.Alloc(rows*dim), g.Alloc(rows*dim), g.Alloc(rows*dim)
	gm, bt, mean, rstd, dg, db := g.Alloc(dim), g.Alloc(dim), g.Alloc(rows), g.Alloc(rows), g.Alloc(dim), g.Alloc(dim)
	defer func() {
		for _, e := range []kernels.Buf{x, y, dy, dx, gm, bt, mean, rstd, dg, db} {
			g.Free(e)
		}
	}()
	g.Fill(gm, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.LayerNorm(y, x, gm, bt, mean, rstd, rows, dim, 1e-6)
		g.LayerNormBackward(dx, dg, db, dy, x, gm, mean, rstd, rows, dim)
	}
	if err := g.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(7*rows*dim*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
