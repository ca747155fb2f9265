//go:build !cgo

package cpu

// Without cgo there is no OpenBLAS: every GEMM runs the pure-Go kernel.
const (
	haveBLAS = false
	blasName = "none"
)

func blasInit() {}

// BLASThreads is 0: no OpenBLAS is linked.
func BLASThreads() int { return 0 }

func blasSgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	goGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
