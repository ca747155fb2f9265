//go:build !cgo

package cpu

// Without cgo the elementwise loops run in Go.
const haveCElem = false

func quickGELUC(y, x []float32) { quickGELU(y, x) }

func softmaxRowsC(s []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		softmaxRow(s[r*cols:(r+1)*cols], s[r*cols:(r+1)*cols])
	}
}
