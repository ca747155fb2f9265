//go:build cgo

package cpu

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"sync"
	"unsafe"
)

const (
	haveBLAS = true
	blasName = "openblas"
)

var blasOnce sync.Once

// blasInit makes every OpenBLAS call single-threaded: this package parallelises GEMMs itself.
func blasInit() { blasOnce.Do(func() { C.openblas_set_num_threads(1) }) }

// BLASThreads is the size of OpenBLAS's own thread pool: 1 once a Backend exists (this package
// splits the work itself; Options.Threads bounds it).
func BLASThreads() int { return int(C.openblas_get_num_threads()) }

// blasSgemm is row-major cblas_sgemm on one thread. Slices start at each matrix's first element.
func blasSgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans), C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans)
	if tA {
		ta = C.CblasTrans
	}
	if tB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb), C.float(beta),
		(*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}
