package cuda

import (
	"math"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// The CLIP ViT-B/16 teacher forward as a sequence of this backend's operations, the same
// sequence models/clip issues (kernels may not import models, so it is restated here): patch
// GEMM, CLS + positions, ln_pre, 12 pre-norm blocks (LN, qkv GEMM+bias, attention, out GEMM+bias,
// residual, LN, fc1 GEMM+bias, QuickGELU, fc2 GEMM+bias, residual), the CLS head mean of the
// last block, and ln_post -> proj -> L2 for the last 6 blocks' patch tokens. Random weights:
// only speed is measured. BenchmarkGPUTeacher reports frames/s, the figure (a) of
// docs/bench/gpu.md, side by side with bench/gpu/teacher.py.

type teacherShape struct{ frames, grid, patch, width, layers, heads, out, ret int }

var vitB16 = teacherShape{frames: 512, grid: 14, patch: 16, width: 768, layers: 12, heads: 12, out: 512, ret: 6}

// teacherRun holds the weights and activations of one synthetic teacher forward.
type teacherRun struct {
	b    *Backend
	s    teacherShape
	bufs []kernels.Buf

	pix, patchW, pos, x, h, qkv, attn, mlp, mean, rstd, cls, feats, proj kernels.Buf
	lnG, lnB                                                             kernels.Buf
	wQKV, bQKV, wOut, bOut, wFC1, bFC1, wFC2, bFC2                       kernels.Buf
}

func newTeacherRun(b *Backend, s teacherShape) *teacherRun {
	r := &teacherRun{b: b, s: s}
	n := s.grid*s.grid + 1
	rows := s.frames * n
	w := s.width
	alloc := func(n int, scale float64) kernels.Buf {
		x := b.Alloc(n)
		r.bufs = append(r.bufs, x)
		if scale != 0 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(scale * math.Sin(float64(i)*0.7311+float64(len(r.bufs))))
			}
			b.Upload(x, v)
		}
		return x
	}
	k := 3 * s.patch * s.patch
	r.pix = alloc(s.frames*s.grid*s.grid*k, 1)
	r.patchW = alloc(w*k, 1/math.Sqrt(float64(k)))
	r.pos = alloc(n*w, 0.02)
	r.x, r.h = alloc(rows*w, 0), alloc(rows*w, 0)
	r.qkv, r.attn, r.mlp = alloc(rows*3*w, 0), alloc(rows*w, 0), alloc(rows*4*w, 0)
	r.mean, r.rstd = alloc(rows, 0), alloc(rows, 0)
	r.cls = alloc(s.frames*n, 0)
	r.feats, r.proj = alloc(s.ret*s.frames*(n-1)*s.out, 0), alloc(w*s.out, 1/math.Sqrt(float64(w)))
	r.lnG, r.lnB = alloc(w, 1), alloc(w, 0.1)
	r.wQKV, r.bQKV = alloc(3*w*w, 1/math.Sqrt(float64(w))), alloc(3*w, 0.02)
	r.wOut, r.bOut = alloc(w*w, 1/math.Sqrt(float64(w))), alloc(w, 0.02)
	r.wFC1, r.bFC1 = alloc(4*w*w, 1/math.Sqrt(float64(w))), alloc(4*w, 0.02)
	r.wFC2, r.bFC2 = alloc(4*w*w, 1/math.Sqrt(float64(4*w))), alloc(w, 0.02)
	return r
}

func (r *teacherRun) free() {
	for _, x := range r.bufs {
		r.b.Free(x)
	}
}

// linear is y [rows, out] = x [rows, in] W^T + bias through the fused epilogue.
func (r *teacherRun) linear(y, x, wt, bias kernels.Buf, rows, in, out int) {
	r.b.GemmBias(kernels.Gemm{M: rows, N: out, K: in, Alpha: 1, A: x, LDA: in, B: wt, LDB: in, TransB: true, C: y, LDC: out}, bias)
}

// forward issues one teacher forward (one set of weights shared by every layer: speed only).
func (r *teacherRun) forward() {
	b, s := r.b, r.s
	n, w, g2 := s.grid*s.grid+1, s.width, s.grid*s.grid
	rows := s.frames * n
	k := 3 * s.patch * s.patch
	// Patch embedding into rows 1..196 of every frame (row 0 is CLS: here the positional row).
	b.Gemm(kernels.Gemm{M: g2, N: w, K: k, Alpha: 1, A: r.pix, LDA: k, StrideA: g2 * k, B: r.patchW, LDB: k, TransB: true,
		C: r.x.View(w, r.x.Len()-w), LDC: w, StrideC: n * w, Batch: s.frames})
	b.AddBias(r.x, r.pos, s.frames, n*w) // the positional table added to every frame
	b.LayerNorm(r.x, r.x, r.lnG, r.lnB, kernels.Buf{}, kernels.Buf{}, rows, w, 1e-5)
	dh := w / s.heads
	for l := 0; l < s.layers; l++ {
		b.LayerNorm(r.h, r.x, r.lnG, r.lnB, r.mean, r.rstd, rows, w, 1e-5)
		r.linear(r.qkv, r.h, r.wQKV, r.bQKV, rows, w, 3*w)
		a := kernels.Attention{B: s.frames, H: s.heads, Lq: n, Lk: n, Dh: dh, Scale: float32(1 / math.Sqrt(float64(dh))),
			Q: r.qkv, K: r.qkv.View(w, r.qkv.Len()-w), V: r.qkv.View(2*w, r.qkv.Len()-2*w),
			QRow: 3 * w, KVRow: 3 * w, QBatch: n * 3 * w, KVBatch: n * 3 * w, Out: r.attn}
		if l == s.layers-1 {
			a.HeadMean = r.cls
		}
		b.Attention(a)
		r.linear(r.h, r.attn, r.wOut, r.bOut, rows, w, w)
		b.Add(r.x, r.x, r.h)
		b.LayerNorm(r.h, r.x, r.lnG, r.lnB, kernels.Buf{}, kernels.Buf{}, rows, w, 1e-5)
		r.linear(r.mlp, r.h, r.wFC1, r.bFC1, rows, w, 4*w)
		b.QuickGELU(r.mlp, r.mlp)
		r.linear(r.h, r.mlp, r.wFC2, r.bFC2, rows, 4*w, w)
		b.Add(r.x, r.x, r.h)
		if j := l - (s.layers - s.ret); j >= 0 {
			// ln_post over the patch rows, proj, L2: features [frames, 196, out] of layer j.
			b.LayerNorm(r.h, r.x, r.lnG, r.lnB, kernels.Buf{}, kernels.Buf{}, rows, w, 1e-5)
			fj := r.feats.View(j*s.frames*g2*s.out, s.frames*g2*s.out)
			b.Gemm(kernels.Gemm{M: g2, N: s.out, K: w, Alpha: 1, A: r.h.View(w, r.h.Len()-w), LDA: w, StrideA: n * w,
				B: r.proj, LDB: s.out, C: fj, LDC: s.out, StrideC: g2 * s.out, Batch: s.frames})
			b.L2Normalize(fj, fj, s.frames*g2, s.out, 0)
		}
	}
}

// BenchmarkGPUTeacher: ViT-B/16 teacher frames/s over 512-frame batches (64 clips x 8), GEMMs
// in bf16 (tensor cores, float32 accumulation) and, for reference, tf32.
func BenchmarkGPUTeacher(b *testing.B) {
	for _, prec := range []Precision{BF16, TF32} {
		b.Run(prec.String(), func(b *testing.B) {
			g := benchGPU(b, prec)
			r := newTeacherRun(g, vitB16)
			defer r.free()
			r.forward()
			if err := g.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.forward()
			}
			if err := g.Sync(); err != nil {
				b.Fatal(err)
			}
			fps := float64(b.N*vitB16.frames) / b.Elapsed().Seconds()
			b.ReportMetric(fps, "frames/s")
			b.ReportMetric(fps*36.05e9/1e12, "TFLOP/s")
		})
	}
}

// TestGPUTeacherSequence runs the benchmark's forward once at a tiny size (on a GPU, or on the
// emulator) and checks it finishes without error and with finite unit-norm features.
func TestGPUTeacherSequence(t *testing.T) {
	g := gpuOrSkip(t, Options{Precision: BF16})
	defer g.Close()
	s := teacherShape{frames: 2, grid: 3, patch: 4, width: 64, layers: 3, heads: 1, out: 16, ret: 2}
	r := newTeacherRun(g, s)
	r.forward()
	feats := make([]float32, r.feats.Len())
	if err := g.Download(feats, r.feats); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(feats); i += s.out {
		var n float64
		for _, v := range feats[i : i+s.out] {
			n += float64(v) * float64(v)
		}
		if math.IsNaN(n) || math.Abs(n-1) > 1e-4 {
			t.Fatalf("feature row %d has squared norm %v, want 1", i/s.out, n)
		}
	}
	r.free()
	if st := g.Stats(); st.LiveBytes != 0 {
		t.Errorf("%d live bytes after freeing the teacher's buffers", st.LiveBytes)
	}
}
