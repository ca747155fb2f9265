package prep

import (
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/kernels/cuda"
)

// TestTeacherBackendSelection checks --device: cpu is the CPU reference, auto always yields a
// working backend (the GPU or, without one, the CPU), cuda fails with the reason where no GPU
// works, and a misspelt device is an error that lists the choices.
func TestTeacherBackendSelection(t *testing.T) {
	for _, dev := range []string{"", "cpu"} {
		be, err := teacherBackend(dev, 1)
		if err != nil {
			t.Fatalf("device %q: %v", dev, err)
		}
		if _, ok := be.(*cpu.Backend); !ok {
			t.Fatalf("device %q: got %T, want the CPU backend", dev, be)
		}
	}
	be, err := teacherBackend("auto", 1)
	if err != nil || be == nil {
		t.Fatalf("device auto must always give a backend, got %v, %v", be, err)
	}
	g, gpuErr := cuda.Open(cuda.Options{})
	if gpuErr == nil {
		g.Close()
		t.Logf("a GPU works here: auto chose %s", be.Name())
	} else {
		if _, ok := be.(*cpu.Backend); !ok {
			t.Fatalf("auto without a GPU (%v) must fall back to the CPU, got %T", gpuErr, be)
		}
		if _, err := teacherBackend("cuda", 1); err == nil || !strings.Contains(err.Error(), "--device=auto") {
			t.Fatalf("device cuda without a GPU must fail and point at --device=auto, got %v", err)
		}
	}
	if _, err := teacherBackend("tpu", 1); err == nil || !strings.Contains(err.Error(), "cpu") {
		t.Fatalf("an unknown device must be an error listing the choices, got %v", err)
	}
}
