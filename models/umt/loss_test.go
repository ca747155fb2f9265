package umt

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/weights/weightstest"
)

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func rel(got []float64, want []float32) float64 {
	var maxRef, maxAbs float64
	for i := range want {
		maxRef = math.Max(maxRef, math.Abs(float64(want[i])))
		maxAbs = math.Max(maxAbs, math.Abs(got[i]-float64(want[i])))
	}
	return maxAbs / math.Max(maxRef, 1e-30)
}

// TestVTCMatchesReference: every case of vtc_loss.safetensors (duplicate idx, several frames,
// no idx) gives the reference similarity, loss and gradients of both projections and the
// temperature, within the float32 tolerances (1e-4 of max|ref| for sim, 1e-5 relative for the
// loss, 1e-3 of max|ref| for gradients).
func TestVTCMatchesReference(t *testing.T) {
	ref, err := weightstest.Read(filepath.Join(testenv.RefData(t), "vtc_loss.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for c := 0; ; c++ {
		p := fmt.Sprintf("case%d.", c)
		v, ok := ref[p+"vision_proj"]
		if !ok {
			break
		}
		cases++
		tp, temp := ref[p+"text_proj"], ref[p+"temp"]
		B, T, E := v.Shape[0], v.Shape[1], v.Shape[2]
		var idx []int64
		if x, ok := ref[p+"idx"]; ok {
			idx = x.I64
		}
		r, err := VTCLoss(f64(v.F32), f64(tp.F32), idx, B, T, E, float64(temp.F32[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, chk := range []struct {
			name string
			got  []float64
			tol  float64
		}{
			{"sim_v2t", r.Sim, 1e-4}, {"loss", []float64{r.Loss}, 1e-5},
			{"grad_vision_proj", r.DV, 1e-3}, {"grad_text_proj", r.DT, 1e-3}, {"grad_temp", []float64{r.DTemp}, 1e-3},
		} {
			want, ok := ref[p+chk.name]
			if !ok {
				t.Fatalf("vtc_loss.safetensors has no %s%s", p, chk.name)
			}
			if e := rel(chk.got, want.F32); e > chk.tol {
				t.Errorf("%s%s: rel error %.3g > %.1g", p, chk.name, e, chk.tol)
			} else {
				t.Logf("%s%s: rel error %.3g", p, chk.name, e)
			}
		}
	}
	if cases == 0 {
		t.Fatal("vtc_loss.safetensors has no case0.*")
	}
}

// TestCrossEntropyGradientIsSoftmaxMinusOnehot checks the loss against a direct computation and
// the gradient against central differences.
func TestCrossEntropyGradientIsSoftmaxMinusOnehot(t *testing.T) {
	logits := []float64{0.3, -1.2, 2.0, 0.1, -0.5, 0.7}
	labels := ITMLabels(1)
	loss, d, err := CrossEntropy(logits, labels, 2)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for r, y := range labels {
		a, b := logits[2*r], logits[2*r+1]
		want += (math.Log(math.Exp(a)+math.Exp(b)) - logits[2*r+y]) / 3
	}
	if math.Abs(loss-want) > 1e-12 {
		t.Fatalf("loss %v, want %v", loss, want)
	}
	for i := range logits {
		x := logits[i]
		logits[i] = x + 1e-6
		lp, _, _ := CrossEntropy(logits, labels, 2)
		logits[i] = x - 1e-6
		lm, _, _ := CrossEntropy(logits, labels, 2)
		logits[i] = x
		if fd := (lp - lm) / 2e-6; math.Abs(fd-d[i]) > 1e-8 {
			t.Errorf("d[%d] = %v, finite difference %v", i, d[i], fd)
		}
	}
	if _, _, err := CrossEntropy(logits, []int{0, 2, 1}, 2); err == nil {
		t.Error("a label outside the classes was accepted")
	}
}
