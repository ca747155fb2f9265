package cpu

import "testing"

// BenchmarkQuickGELU and BenchmarkSoftmaxRows time the exp-bound loops on one goroutine: the Go
// loops and (cgo builds) the vectorised C loops.
func BenchmarkQuickGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200-100) / 20
	}
	y := make([]float32, len(x))
	for _, impl := range []struct {
		name string
		f    func(y, x []float32)
	}{{"go", quickGELU}, {"c", quickGELUC}} {
		b.Run(impl.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				impl.f(y, x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
		})
	}
}

func BenchmarkSoftmaxRows(b *testing.B) {
	const rows, cols = 197, 197
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(i%37) / 7
	}
	s := make([]float32, len(x))
	for _, impl := range []struct {
		name string
		f    func(s []float32)
	}{
		{"go", func(s []float32) {
			for r := 0; r < rows; r++ {
				softmaxRow(s[r*cols:(r+1)*cols], s[r*cols:(r+1)*cols])
			}
		}},
		{"c", func(s []float32) { softmaxRowsC(s, rows, cols) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				copy(s, x)
				impl.f(s)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(x)), "ns/elem")
		})
	}
}
