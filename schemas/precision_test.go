package schemas_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
)

// readF32 reads the F32 tensors of a safetensors file (test helper; the reference files are
// produced by the official code, see testdata/refdata/umt/README.md).
func readF32(t *testing.T, path string) (map[string][]float32, map[string][]int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	vals, shapes := map[string][]float32{}, map[string][]int{}
	for k, raw := range h {
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if json.Unmarshal(raw, &e) != nil || e.DType != "F32" {
			continue
		}
		d := b[8+n:][e.Offsets[0]:e.Offsets[1]]
		f := make([]float32, len(d)/4)
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
		vals[k], shapes[k] = f, e.Shape
	}
	return vals, shapes
}

// alignLoss is UMT's alignment loss, mean over vectors of 2 − 2·cos(s, t).
func alignLoss(s []float32, t []float64, d int) float64 {
	var sum float64
	for i := 0; i < len(s); i += d {
		var st, ss, tt float64
		for j := i; j < i+d; j++ {
			st += float64(s[j]) * t[j]
			ss += float64(s[j]) * float64(s[j])
			tt += t[j] * t[j]
		}
		sum += 2 - 2*st/math.Sqrt(ss*tt)
	}
	return sum / float64(len(s)/d)
}

// e4m3 rounds to the nearest FP8 E4M3 value (3 mantissa bits, max 448), for the measurement
// that decides whether an 8-bit precision may be offered (it is not: see below).
func e4m3(x float64) float64 {
	a := math.Abs(x)
	if a == 0 {
		return 0
	}
	step := math.Pow(2, math.Max(math.Floor(math.Log2(a)), -6)-3)
	return math.Copysign(math.Min(math.RoundToEven(a/step)*step, 448), x)
}

// Storing the teacher targets as float16 must not change UMT's alignment loss on the reference
// data by more than 1e-5 relative (measured: 2e-6). The same check for FP8 E4M3 with a
// per-token scale gives 1.5e-3, above the 1e-3 the issue allows, which is why schema v1 has
// no f8 precision; the test logs that figure for docs/bench/shard.md.
func TestStoredPrecisionAlignmentLoss(t *testing.T) {
	vals, shapes := readF32(t, filepath.Join(testenv.RefData(t), "uta_loss.safetensors"))
	s, target, ref := vals["student_output"], vals["clip_output"], vals["loss"]
	if s == nil || target == nil || len(ref) != 1 {
		t.Fatal("uta_loss.safetensors lacks student_output, clip_output or loss")
	}
	d := shapes["clip_output"][len(shapes["clip_output"])-1]
	t32 := make([]float64, len(target))
	for i, v := range target {
		t32[i] = float64(v)
	}
	l32 := alignLoss(s, t32, d)
	if math.Abs(l32-float64(ref[0])) > 1e-6*math.Abs(float64(ref[0])) {
		t.Fatalf("float32 loss %v differs from the reference %v: the loss formula here is wrong", l32, ref[0])
	}
	// Targets are L2-normalised before storage, as the teacher emits them.
	norm := make([]float64, len(t32))
	for i := 0; i < len(t32); i += d {
		var n float64
		for _, v := range t32[i : i+d] {
			n += v * v
		}
		for j := i; j < i+d; j++ {
			norm[j] = t32[j] / math.Sqrt(n)
		}
	}
	f16 := make([]float64, len(norm))
	for i, v := range norm {
		f16[i] = float64(schemas.Float32s(nil, schemas.F16Bits(nil, []float32{float32(v)}))[0])
	}
	f8 := make([]float64, len(norm))
	for i := 0; i < len(norm); i += d {
		var m float64
		for _, v := range norm[i : i+d] {
			m = math.Max(m, math.Abs(v))
		}
		for j := i; j < i+d; j++ {
			f8[j] = e4m3(norm[j]/m*448) * m / 448
		}
	}
	rel16 := math.Abs(alignLoss(s, f16, d)-l32) / l32
	rel8 := math.Abs(alignLoss(s, f8, d)-l32) / l32
	t.Logf("alignment loss %.7f; relative change with f16 targets %.2e, with e4m3+per-token-scale targets %.2e", l32, rel16, rel8)
	if rel16 > 1e-5 {
		t.Fatalf("float16 targets change the loss by %.2e relative, want < 1e-5", rel16)
	}
	if rel8 < 1e-3 {
		t.Logf("e4m3 now passes the 1e-3 criterion on this reference data: an f8 precision could be offered")
	}
}
