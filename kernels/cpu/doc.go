// Package cpu is the reference backend of package kernels: float32 on host memory, every
// operation parallelised over goroutines.
//
// GEMM goes through OpenBLAS (cblas_sgemm, linked with cgo) when cgo is enabled and through a
// blocked pure-Go kernel otherwise (CGO_ENABLED=0 builds still work, only slower). OpenBLAS is
// switched to one thread per call: this package does the splitting itself (rows of C, batch
// items, attention heads) so that several backends in one process never fight over OpenBLAS's
// global thread pool. With cgo, the exp-bound loops (softmax, QuickGELU) also run as small C
// loops that GCC vectorises (an AVX2 clone picked at load time); they compute exactly what the
// Go loops compute (tested bit for bit). Every fast path has a naive float64 reference beside it in the tests.
//
// A Backend is used by one goroutine at a time (see package kernels). [Backend.Data] exposes the
// host memory of a buffer without copying, for tests and for host-side preprocessing.
package cpu
