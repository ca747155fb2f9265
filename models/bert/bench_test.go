package bert

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
)

// BenchmarkMLMStep times one forward and backward of the text encoder on UMT's MLM path: text
// mode on B captions of L = 32 tokens, fusion mode over N = 160 vision tokens per clip (4
// frames × 40 visible, UMT-B's video batch), the MLM head at the masked positions (half of
// the tokens, as mlm_masking_prob 0.5 gives) and the backward of all three into every
// parameter and the vision tokens. UMT_BENCH_BATCH sets B (default 4). bench/bert_cpu.py is
// the PyTorch side of the comparison in docs/bench/text.md.
func BenchmarkMLMStep(b *testing.B) {
	B := 4
	if v, err := strconv.Atoi(os.Getenv("UMT_BENCH_BATCH")); err == nil && v > 0 {
		B = v
	}
	const L, N = 32, 160
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"tiny", Tiny}, {"bert-base", Base}} {
		b.Run(fmt.Sprintf("%s/B=%d", c.name, B), func(b *testing.B) {
			cfg := c.cfg
			be := cpu.New(cpu.Options{})
			m, err := New(be, cfg, InitParams(cfg, 1))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			r := rand.New(rand.NewPCG(1, 2))
			txt := Text{B: B, L: L}
			labels := make([]int32, B*L)
			for i := 0; i < B*L; i++ {
				txt.IDs = append(txt.IDs, int32(1000+r.IntN(cfg.Vocab-1000)))
				txt.Mask = append(txt.Mask, 1)
				labels[i] = IgnoreIndex
				if i%L != 0 && i%2 == 1 {
					labels[i] = int32(r.IntN(cfg.Vocab))
				}
			}
			vis := be.Alloc(B * N * cfg.EncoderWidth)
			defer be.Free(vis)
			be.Upload(vis, randn(r, B*N*cfg.EncoderWidth, 1))
			step := func() {
				m.ZeroGrads()
				tp, err := m.Text(txt)
				if err != nil {
					b.Fatal(err)
				}
				fp, err := m.Fusion(tp.Out(), txt.Mask, B, L, Vision{N: N, Tokens: vis})
				if err != nil {
					b.Fatal(err)
				}
				mp, err := m.MLM(fp.Out(), B, L, labels)
				if err != nil {
					b.Fatal(err)
				}
				if err := mp.Backward(); err != nil {
					b.Fatal(err)
				}
				if err := fp.Backward(mp.DHidden()); err != nil {
					b.Fatal(err)
				}
				if err := tp.Backward(fp.DIn()); err != nil {
					b.Fatal(err)
				}
				mp.Close()
				fp.Close()
				tp.Close()
			}
			step() // warm-up: first-touch of the buffers
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/step")
		})
	}
}
