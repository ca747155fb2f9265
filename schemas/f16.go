package schemas

import "github.com/x448/float16"

// F16Bits converts float32 values to IEEE float16 bits, rounding to nearest-even (x448/float16).
// It appends to dst and returns it, so callers can reuse a buffer.
func F16Bits(dst []uint16, src []float32) []uint16 {
	for _, v := range src {
		dst = append(dst, float16.Fromfloat32(v).Bits())
	}
	return dst
}

// Float32s converts IEEE float16 bits to float32 exactly (every float16 is a float32). It
// appends to dst and returns it.
func Float32s(dst []float32, src []uint16) []float32 {
	for _, b := range src {
		dst = append(dst, float16.Frombits(b).Float32())
	}
	return dst
}
