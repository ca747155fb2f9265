package cpu

import "sync"

// Pure-Go GEMM: the fallback without cgo and the per-head kernel's alternative. Classic
// Goto-style blocking: op(B) is packed into kc×4 column panels, alpha·op(A) into kc×4 row
// panels, and a 4×4 register-blocked micro-kernel accumulates each panel pair. Packing absorbs
// the transposes, so the micro-kernel sees one layout. Accumulation is float32 in k order
// within a kc block, like a BLAS.

const (
	gemmMR = 4   // rows of a micro-tile
	gemmNR = 4   // columns of a micro-tile
	gemmKC = 256 // depth of a packed block (a 4×256 panel pair fits in L1)
	gemmMC = 64  // rows of op(A) packed at once
	gemmNC = 512 // columns of op(B) packed at once (256×512 floats = 512 KiB, L2)
)

type gemmScratch struct{ a, b []float32 }

var gemmPool = sync.Pool{New: func() any {
	return &gemmScratch{a: make([]float32, gemmMC*gemmKC), b: make([]float32, gemmKC*gemmNC)}
}}

// goGemm computes C = alpha·op(A)·op(B) + beta·C on one goroutine, row-major, with the same
// argument meaning as cblas_sgemm. Slices start at each matrix's first element.
func goGemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 1:
		case 0:
			clear(row)
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if alpha == 0 || k == 0 {
		return
	}
	ws := gemmPool.Get().(*gemmScratch)
	defer gemmPool.Put(ws)
	for p0 := 0; p0 < k; p0 += gemmKC {
		kc := min(gemmKC, k-p0)
		for j0 := 0; j0 < n; j0 += gemmNC {
			nc := min(gemmNC, n-j0)
			packB(ws.b, tB, b, ldb, p0, kc, j0, nc)
			for i0 := 0; i0 < m; i0 += gemmMC {
				mc := min(gemmMC, m-i0)
				packA(ws.a, tA, a, lda, alpha, i0, mc, p0, kc)
				for ip := 0; ip*gemmMR < mc; ip++ {
					ap := ws.a[ip*gemmMR*kc : (ip+1)*gemmMR*kc]
					mr := min(gemmMR, mc-ip*gemmMR)
					for jp := 0; jp*gemmNR < nc; jp++ {
						bp := ws.b[jp*gemmNR*kc : (jp+1)*gemmNR*kc]
						nr := min(gemmNR, nc-jp*gemmNR)
						acc := kernel4x4(ap, bp)
						ci := (i0+ip*gemmMR)*ldc + j0 + jp*gemmNR
						for r := 0; r < mr; r++ {
							crow := c[ci+r*ldc : ci+r*ldc+nr]
							for q := range crow {
								crow[q] += acc[r*gemmNR+q]
							}
						}
					}
				}
			}
		}
	}
}

// packA writes alpha·op(A)[i0:i0+mc, p0:p0+kc] as 4-row panels: dst[(panel*kc+p)*4+r]. Rows past
// mc are zero.
func packA(dst []float32, tA bool, a []float32, lda int, alpha float32, i0, mc, p0, kc int) {
	for ip := 0; ip*gemmMR < mc; ip++ {
		panel := dst[ip*gemmMR*kc : (ip+1)*gemmMR*kc]
		for r := 0; r < gemmMR; r++ {
			i := i0 + ip*gemmMR + r
			if ip*gemmMR+r >= mc {
				for p := 0; p < kc; p++ {
					panel[p*gemmMR+r] = 0
				}
				continue
			}
			if !tA { // op(A)[i, p] = a[i*lda + p]
				src := a[i*lda+p0 : i*lda+p0+kc]
				for p, v := range src {
					panel[p*gemmMR+r] = alpha * v
				}
			} else { // op(A)[i, p] = a[p*lda + i]
				for p := 0; p < kc; p++ {
					panel[p*gemmMR+r] = alpha * a[(p0+p)*lda+i]
				}
			}
		}
	}
}

// packB writes op(B)[p0:p0+kc, j0:j0+nc] as 4-column panels: dst[(panel*kc+p)*4+q]. Columns past
// nc are zero.
func packB(dst []float32, tB bool, b []float32, ldb int, p0, kc, j0, nc int) {
	for jp := 0; jp*gemmNR < nc; jp++ {
		panel := dst[jp*gemmNR*kc : (jp+1)*gemmNR*kc]
		cols := min(gemmNR, nc-jp*gemmNR)
		j := j0 + jp*gemmNR
		for p := 0; p < kc; p++ {
			out := panel[p*gemmNR : p*gemmNR+gemmNR]
			for q := 0; q < gemmNR; q++ {
				switch {
				case q >= cols:
					out[q] = 0
				case !tB: // op(B)[p, j] = b[p*ldb + j]
					out[q] = b[(p0+p)*ldb+j+q]
				default: // op(B)[p, j] = b[j*ldb + p]
					out[q] = b[(j+q)*ldb+p0+p]
				}
			}
		}
	}
}

// kernel4x4 returns the 4×4 product of a packed A panel and a packed B panel of equal depth.
func kernel4x4(a, b []float32) [16]float32 {
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a, b = a[4:], b[4:]
	}
	return [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
}
