package cpu

import "testing"

// BenchmarkQuickGELU and BenchmarkSoftmaxRow time the exp-bound loops on one goroutine.
func BenchmarkQuickGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200-100) / 20
	}
	y := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	for i := 0; i < b.N; i++ {
		quickGELU(y, x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
}

func BenchmarkSoftmaxRow(b *testing.B) {
	x := make([]float32, 197)
	for i := range x {
		x[i] = float32(i%37) / 7
	}
	y := make([]float32, len(x))
	for i := 0; i < b.N; i++ {
		softmaxRow(y, x)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
}
