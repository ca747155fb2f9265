//go:build cgo

package cpu

/*
#cgo CFLAGS: -O3
#include <stdint.h>
#include <string.h>

// The same exp as expCore in exp.go (same operations in the same order, so results are
// identical), written so that GCC vectorises the loops; target_clones compiles an AVX2 copy and
// a baseline copy and picks one when the program loads. no-trapping-math lets GCC turn the
// clamps into blends (cgo does not accept the flag on the command line); it changes no result,
// only whether FP exception flags may be raised speculatively, which nothing here reads.
#pragma GCC optimize ("no-trapping-math")

#if defined(__x86_64__) && defined(__GNUC__)
#define UMT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define UMT_CLONES // other architectures: one copy, vectorised for the baseline ISA
#endif

static inline double umt_exp_core(double x) {
	x = x < -87.33654475055310 ? -87.33654475055310 : x;
	x = x > 88.72283905206835 ? 88.72283905206835 : x;
	const double shifter = 6755399441055744.0; // 1.5 * 2^52
	double t = x * 1.4426950408889634 + shifter;
	double r = x - (t - shifter) * 0.6931471805599453;
	double r2 = r * r;
	double p = (1 + r) + r2 * (0.5 + r * (1.0 / 6)) +
		r2 * r2 * ((1.0 / 24 + r * (1.0 / 120)) + r2 * (1.0 / 720 + r * (1.0 / 5040)));
	uint64_t b;
	memcpy(&b, &t, 8);
	b = (b + 1023) << 52;
	double s;
	memcpy(&s, &b, 8);
	return p * s;
}

UMT_CLONES
void umt_quickgelu(float *y, const float *x, long n) {
	for (long i = 0; i < n; i++) {
		double v = x[i];
		y[i] = (float)(v / (1 + umt_exp_core(-1.702 * v)));
	}
}

// umt_softmax_rows: softmax of each row of x [rows, cols] into y (may alias x).
UMT_CLONES
void umt_softmax_rows(float *y, const float *x, long rows, long cols) {
	for (long r = 0; r < rows; r++) {
		const float *xr = x + r * cols;
		float *yr = y + r * cols;
		float m = xr[0];
		for (long i = 1; i < cols; i++) {
			m = xr[i] > m ? xr[i] : m;
		}
		for (long i = 0; i < cols; i++) {
			yr[i] = (float)umt_exp_core((double)(xr[i] - m));
		}
		float s = 0;
		for (long i = 0; i < cols; i++) {
			s += yr[i];
		}
		float inv = 1 / s;
		for (long i = 0; i < cols; i++) {
			yr[i] *= inv;
		}
	}
}
*/
import "C"

import "unsafe"

// haveCElem reports that the vectorised C loops are linked.
const haveCElem = true

// quickGELUC runs the C QuickGELU loop (len(y) >= len(x) > 0).
func quickGELUC(y, x []float32) {
	if len(x) == 0 {
		return
	}
	C.umt_quickgelu((*C.float)(unsafe.Pointer(&y[0])), (*C.float)(unsafe.Pointer(&x[0])), C.long(len(x)))
}

// softmaxRowsC runs the C softmax over rows of s [rows, cols] in place.
func softmaxRowsC(s []float32, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	p := (*C.float)(unsafe.Pointer(&s[0]))
	C.umt_softmax_rows(p, p, C.long(rows), C.long(cols))
}
