package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/weights"
)

// TestInspectTeacher runs the command on the reference set and checks its output file against
// the reference teacher features (same criterion as models/clip's parity test).
func TestInspectTeacher(t *testing.T) {
	ref, m := testenv.RefData(t), testenv.RefStage1(t)
	out := filepath.Join(t.TempDir(), "teacher.safetensors")
	io := filepath.Join(ref, "teacher_tiny_io.safetensors")
	code, msg := capture(t, "inspect", "teacher", "--weights", filepath.Join(ref, "teacher_tiny_hf.safetensors"),
		"--heads", fmt.Sprint(m.Teacher.Heads), "--resolution", fmt.Sprint(m.Img), "--return-layers", fmt.Sprint(m.Teacher.ReturnLayers),
		"--return-interval", fmt.Sprint(m.Teacher.ReturnInterval), "--threads", "2", "--frames", io, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if want := fmt.Sprintf("features [%d %d %d %d]", m.Teacher.ReturnLayers, m.B, m.T*m.HW(), m.Teacher.OutputDim); !strings.Contains(msg, want) {
		t.Errorf("summary: %s", msg)
	}
	got, err := weights.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	want, err := weights.Open(io)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	for _, p := range [][2]string{{"features", "teacher.features"}, {"attn_cls", "teacher.attn_cls"}} {
		g, err1 := got.Get(p[0]).Float32()
		w, err2 := want.Get(p[1]).Float32()
		if err1 != nil || err2 != nil || len(g) != len(w) {
			t.Fatalf("%s: %v %v (%d vs %d values)", p[0], err1, err2, len(g), len(w))
		}
		var maxRef, maxDiff float64
		for i := range w {
			maxRef = math.Max(maxRef, math.Abs(float64(w[i])))
			maxDiff = math.Max(maxDiff, math.Abs(float64(g[i]-w[i])))
		}
		if maxDiff > 1e-4*maxRef {
			t.Errorf("%s: max|diff| %.3g > 1e-4 × max|ref| %.3g", p[0], maxDiff, maxRef)
		}
	}
	if got.Metadata["teacher_config"] == "" {
		t.Error("no teacher_config metadata")
	}
	// Usage errors exit 2; bad files exit 1 with the reason.
	if code, _ := capture(t, "inspect", "teacher", "--weights", "x"); code != 2 {
		t.Errorf("missing --frames/--out: exit %d, want 2", code)
	}
	if code, _ := capture(t, "inspect", "teacher", "--weights", filepath.Join(ref, "teacher_tiny_hf.safetensors"), "--frames", filepath.Join(ref, "vtc_loss.safetensors"), "--out", out, "--heads", "4"); code != 1 {
		t.Errorf("frames file without frames: exit %d, want 1", code)
	}
}
