package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/umt-dev/umt/kernels"
)

// BenchmarkSgemm measures C = A·B on square float32 matrices through Backend.Gemm (all of
// GOMAXPROCS) and reports GFLOP/s; compare with torch's sgemm from bench/teacher_cpu.py bench
// at the same thread count (docs/bench/teacher.md).
//
//	go test -run XXX -bench Sgemm ./kernels/cpu
func BenchmarkSgemm(b *testing.B) {
	for _, n := range []int{256, 1024} {
		for _, pure := range []bool{false, true} {
			name := fmt.Sprintf("n=%d/%s", n, map[bool]string{false: "default", true: "purego"}[pure])
			b.Run(name, func(b *testing.B) {
				be := New(Options{PureGo: pure})
				r := rand.New(rand.NewPCG(1, 2))
				A, B, C := upload(be, randSlice(r, n*n)), upload(be, randSlice(r, n*n)), be.Alloc(n*n)
				g := kernels.Gemm{M: n, N: n, K: n, Alpha: 1, A: A, LDA: n, B: B, LDB: n, C: C, LDC: n}
				be.Gemm(g)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					be.Gemm(g)
				}
				b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				be.Free(A)
				be.Free(B)
				be.Free(C)
			})
		}
	}
}
