package cpu

import "math"

// exp32 is e^x for float32 arguments, within one float32 ulp of math.Exp (checked in
// ops_test.go), several times faster: softmax and QuickGELU call it for every element.
func exp32(x float32) float32 { return float32(expf(float64(x))) }

const (
	expLog2e   = 1.4426950408889634
	expLn2     = 0.6931471805599453
	expShifter = 0x1.8p52 // adding it rounds a float64 of magnitude < 2^51 to an integer
	expMax     = 88.72283905206835
	expMin     = -87.33654475055310
)

// expf is e^x for arguments that come from float32 computations: range reduction x = n·ln2 + r
// with |r| ≤ ln2/2 (n found with the 1.5·2^52 shifter trick: no Floor call, which is not an
// intrinsic on GOAMD64=v1), a degree-7 Taylor polynomial in float64 (truncation error < 6e-9
// relative, far below float32's 6e-8) and a 2^n scaling through the exponent bits. Results
// that would be subnormal or infinite in float32 become 0 or +Inf.
func expf(x float64) float64 {
	if !(x > expMin) { // also NaN
		if x != x {
			return x
		}
		return 0
	}
	if x > expMax {
		return math.Inf(1)
	}
	t := x*expLog2e + expShifter
	n := t - expShifter
	r := x - n*expLn2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	k := int64(math.Float64bits(t)) - int64(math.Float64bits(expShifter)) // n as an integer
	return p * math.Float64frombits(uint64(k+1023)<<52)
}

// expCore is e^x for x already clamped to [expMin, expMax], written to be inlined into the hot
// loops (softmax, QuickGELU): the same reduction as expf, the polynomial in Estrin's scheme so
// that its dependency chain is 4 multiply-adds deep instead of 7. Same accuracy as expf (checked
// in ops_test.go).
//
// t = 1.5·2^52 + n holds n in its low mantissa bits, so (bits(t) + 1023) << 52 is the bit
// pattern of 2^n (the shift drops everything above the 12 exponent bits; n+1023 is in
// [897, 1151]).
func expCore(x float64) float64 {
	t := x*expLog2e + expShifter
	r := x - (t-expShifter)*expLn2
	r2 := r * r
	p := (1 + r) + r2*(0.5+r*(1.0/6)) + r2*r2*((1.0/24+r*(1.0/120))+r2*(1.0/720+r*(1.0/5040)))
	return p * math.Float64frombits((math.Float64bits(t)+1023)<<52)
}

// clampExp limits an exp argument to the float32-normal range (NaN stays NaN): below it e^x is
// replaced by e^expMin ≈ 1.2e-38 instead of 0, above it by e^expMax ≈ 3.4e38 instead of +Inf.
func clampExp(x float64) float64 { return min(max(x, expMin), expMax) }
