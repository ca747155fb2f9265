package cuda

import (
	"fmt"
	"unsafe"

	"github.com/umt-dev/umt/kernels"
)

// Precision is the GEMM compute path ([kernels.Precision]): FP32 is CUBLAS_COMPUTE_32F, TF32
// CUBLAS_COMPUTE_32F_FAST_TF32, BF16 CUBLAS_COMPUTE_32F_FAST_16BF.
type Precision = kernels.Precision

// The compute paths, as in package kernels.
const (
	FP32 = kernels.FP32
	TF32 = kernels.TF32
	BF16 = kernels.BF16
)

func computeType(p Precision) uintptr {
	switch p {
	case TF32:
		return 77 // CUBLAS_COMPUTE_32F_FAST_TF32
	case BF16:
		return 75 // CUBLAS_COMPUTE_32F_FAST_16BF
	}
	return 68 // CUBLAS_COMPUTE_32F
}

// cuBLASLt enum values used here (cublasLt.h).
const (
	cudaR32F = 0

	descComputeType = 0
	descScaleType   = 1
	descTransA      = 3
	descTransB      = 4
	descEpilogue    = 7
	descBiasPointer = 8

	layoutBatchCount   = 5
	layoutStridedBatch = 6

	prefMaxWorkspace = 1
	prefAlignA       = 5
	prefAlignB       = 6
	prefAlignC       = 7
	prefAlignD       = 8

	epilogueDefault = 1
	epilogueBias    = 4
)

// ltShape is a row-major kernels.Gemm restated for column-major cuBLASLt. A row-major C [M, N]
// is a column-major C^T [N, M] with the same leading dimension, and C^T = op(B)^T op(A)^T, so
// cuBLASLt multiplies with the operands swapped: its A is our B, its B is our A, and the
// transposes carry over unchanged (a row-major [K, N] B is a column-major [N, K] B^T).
type ltShape struct {
	transA, transB bool    // cuBLASLt's op(A), op(B)
	m, n, k        int     // cuBLASLt's sizes: m = N, n = M
	aRows, aCols   int     // stored (column-major) shape of cuBLASLt's A = our B
	bRows, bCols   int     // stored shape of cuBLASLt's B = our A
	lda, ldb, ldc  int     // leading dimensions (ours, unchanged)
	strideA        int     // batch strides of cuBLASLt's A, B, C (elements)
	strideB        int     // ...
	strideC        int     // ...
	batch          int     // >= 1
	alpha, beta    float32 // unchanged
}

// colMajorShape restates g (normalised) for cuBLASLt.
func colMajorShape(g kernels.Gemm) ltShape {
	g = g.Normalized()
	s := ltShape{transA: g.TransB, transB: g.TransA, m: g.N, n: g.M, k: g.K,
		lda: g.LDB, ldb: g.LDA, ldc: g.LDC, strideA: g.StrideB, strideB: g.StrideA, strideC: g.StrideC,
		batch: g.Batch, alpha: g.Alpha, beta: g.Beta}
	// Stored column-major shapes: op(X) = X is [rows, cols]; op(X) = X^T stores [cols, rows].
	s.aRows, s.aCols = s.m, s.k
	if s.transA {
		s.aRows, s.aCols = s.k, s.m
	}
	s.bRows, s.bCols = s.k, s.n
	if s.transB {
		s.bRows, s.bCols = s.n, s.k
	}
	return s
}

// alignOf is the largest of 16, 8, 4 bytes dividing the device address p.
func alignOf(p uint64) uint32 {
	switch {
	case p%16 == 0:
		return 16
	case p%8 == 0:
		return 8
	}
	return 4
}

// cublasLt holds cuBLASLt's entry points and handle.
type cublasLt struct {
	path   string
	handle uintptr

	create, destroy, descCreate, descDestroy, descSet, layoutCreate, layoutDestroy, layoutSet uintptr
	prefCreate, prefDestroy, prefSet, heuristic, matmul, version                              uintptr
}

func loadCublasLt() (*cublasLt, error) {
	h, path, err := openLib(libCublasLt)
	if err != nil {
		return nil, err
	}
	l := &cublasLt{path: path}
	if err := symbols(h, path,
		[]string{"cublasLtCreate", "cublasLtDestroy", "cublasLtMatmulDescCreate", "cublasLtMatmulDescDestroy",
			"cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate", "cublasLtMatrixLayoutDestroy",
			"cublasLtMatrixLayoutSetAttribute", "cublasLtMatmulPreferenceCreate", "cublasLtMatmulPreferenceDestroy",
			"cublasLtMatmulPreferenceSetAttribute", "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul", "cublasLtGetVersion"},
		[]*uintptr{&l.create, &l.destroy, &l.descCreate, &l.descDestroy, &l.descSet, &l.layoutCreate, &l.layoutDestroy,
			&l.layoutSet, &l.prefCreate, &l.prefDestroy, &l.prefSet, &l.heuristic, &l.matmul, &l.version},
	); err != nil {
		return nil, err
	}
	hp := new(uintptr)
	if r := call(l.create, hostPtr(unsafe.Pointer(hp))); r != 0 {
		return nil, fmt.Errorf("cublasLtCreate failed with status %d; the GPU context or the cuBLAS install is broken (status 1 = not initialised, 3 = alloc failed)", r)
	}
	l.handle = *hp
	return l, nil
}

// Version is cuBLASLt's version number, e.g. 120304 for 12.3.4.
func (l *cublasLt) Version() int { return int(callRaw(l.version)) }

// heurResult mirrors cublasLtMatmulHeuristicResult_t (96 bytes).
type heurResult struct {
	algo      [8]uint64
	workspace uint64
	state     int32
	waves     float32
	reserved  [4]int32
}

// gemmKey identifies a cached plan: everything that shapes descriptors and the algorithm.
type gemmKey struct {
	s                    ltShape
	prec                 Precision
	bias                 bool
	alA, alB, alC, alBia uint32
}

// gemmPlan is a matmul descriptor, three layouts and the algorithm cuBLASLt chose for them.
type gemmPlan struct {
	desc, la, lb, lc uintptr
	heur             *heurResult
	alpha, beta      *float32
	bias             *uint64
}

func (l *cublasLt) setDesc(desc uintptr, attr int, v unsafe.Pointer, size uintptr) error {
	if r := call(l.descSet, desc, uintptr(attr), hostPtr(v), size); r != 0 {
		return fmt.Errorf("cublasLtMatmulDescSetAttribute(%d) failed with status %d", attr, r)
	}
	return nil
}

// plan builds the descriptors of k and asks cuBLASLt's heuristic for an algorithm that fits
// in workspace bytes.
func (l *cublasLt) plan(k gemmKey, workspace uint64) (*gemmPlan, error) {
	s := k.s
	p := &gemmPlan{heur: new(heurResult), alpha: new(float32), beta: new(float32), bias: new(uint64)}
	out := new(uintptr)
	if r := call(l.descCreate, hostPtr(unsafe.Pointer(out)), computeType(k.prec), cudaR32F); r != 0 {
		return nil, fmt.Errorf("cublasLtMatmulDescCreate(%s) failed with status %d", k.prec, r)
	}
	p.desc = *out
	ta, tb := new(int32), new(int32)
	if s.transA {
		*ta = 1
	}
	if s.transB {
		*tb = 1
	}
	if err := l.setDesc(p.desc, descTransA, unsafe.Pointer(ta), 4); err != nil {
		return nil, err
	}
	if err := l.setDesc(p.desc, descTransB, unsafe.Pointer(tb), 4); err != nil {
		return nil, err
	}
	if k.bias {
		ep := new(uint32)
		*ep = epilogueBias
		if err := l.setDesc(p.desc, descEpilogue, unsafe.Pointer(ep), 4); err != nil {
			return nil, err
		}
	}
	layout := func(rows, cols, ld, stride int) (uintptr, error) {
		o := new(uintptr)
		if r := call(l.layoutCreate, hostPtr(unsafe.Pointer(o)), cudaR32F, uintptr(rows), uintptr(cols), uintptr(ld)); r != 0 {
			return 0, fmt.Errorf("cublasLtMatrixLayoutCreate(%dx%d, ld %d) failed with status %d", rows, cols, ld, r)
		}
		if s.batch > 1 {
			bc, st := new(int32), new(int64)
			*bc, *st = int32(s.batch), int64(stride)
			if r := call(l.layoutSet, *o, layoutBatchCount, hostPtr(unsafe.Pointer(bc)), 4); r != 0 {
				return 0, fmt.Errorf("batch count %d: status %d", s.batch, r)
			}
			if r := call(l.layoutSet, *o, layoutStridedBatch, hostPtr(unsafe.Pointer(st)), 8); r != 0 {
				return 0, fmt.Errorf("batch stride %d: status %d", stride, r)
			}
		}
		return *o, nil
	}
	var err error
	if p.la, err = layout(s.aRows, s.aCols, s.lda, s.strideA); err != nil {
		return nil, err
	}
	if p.lb, err = layout(s.bRows, s.bCols, s.ldb, s.strideB); err != nil {
		return nil, err
	}
	if p.lc, err = layout(s.m, s.n, s.ldc, s.strideC); err != nil {
		return nil, err
	}
	pref := new(uintptr)
	if r := call(l.prefCreate, hostPtr(unsafe.Pointer(pref))); r != 0 {
		return nil, fmt.Errorf("cublasLtMatmulPreferenceCreate failed with status %d", r)
	}
	defer call(l.prefDestroy, *pref)
	ws := new(uint64)
	*ws = workspace
	call(l.prefSet, *pref, prefMaxWorkspace, hostPtr(unsafe.Pointer(ws)), 8)
	for attr, al := range map[int]uint32{prefAlignA: k.alB, prefAlignB: k.alA, prefAlignC: k.alC, prefAlignD: k.alC} {
		v := new(uint32)
		*v = al
		call(l.prefSet, *pref, uintptr(attr), hostPtr(unsafe.Pointer(v)), 4)
	}
	n := new(int32)
	r := call(l.heuristic, l.handle, p.desc, p.la, p.lb, p.lc, p.lc, *pref, 1, hostPtr(unsafe.Pointer(p.heur)), hostPtr(unsafe.Pointer(n)))
	if r != 0 || *n == 0 {
		return nil, fmt.Errorf("cuBLASLt has no algorithm for a %s GEMM m=%d n=%d k=%d batch=%d (status %d, %d results); try --gemm-precision=fp32",
			k.prec, s.m, s.n, s.k, s.batch, r, *n)
	}
	*p.alpha, *p.beta = s.alpha, s.beta
	return p, nil
}

// run issues the planned matmul D = C = alpha op(A) op(B) + beta C (+ bias) on the default
// stream. a, b, c are device addresses of cuBLASLt's A (our B), B (our A) and C.
func (l *cublasLt) run(p *gemmPlan, a, b, c, bias, workspace, wsBytes uint64) error {
	if bias != 0 {
		*p.bias = bias
		if err := l.setDesc(p.desc, descBiasPointer, unsafe.Pointer(p.bias), 8); err != nil {
			return err
		}
	}
	r := call(l.matmul, l.handle, p.desc, hostPtr(unsafe.Pointer(p.alpha)), uintptr(a), p.la, uintptr(b), p.lb,
		hostPtr(unsafe.Pointer(p.beta)), uintptr(c), p.lc, uintptr(c), p.lc, hostPtr(unsafe.Pointer(&p.heur.algo)),
		uintptr(workspace), uintptr(wsBytes), 0)
	if r != 0 {
		return fmt.Errorf("cublasLtMatmul failed with status %d (7 = invalid value, 13 = execution failed, 15 = not supported)", r)
	}
	return nil
}

func (l *cublasLt) free(p *gemmPlan) {
	call(l.layoutDestroy, p.la)
	call(l.layoutDestroy, p.lb)
	call(l.layoutDestroy, p.lc)
	call(l.descDestroy, p.desc)
}
