package cuda

import (
	"os"
	"strings"
	"testing"
)

// TestNVRTCCompilesEveryKernel compiles every embedded program to PTX for compute_90 (Hopper)
// (and compute_80 with UMT_SOAK=1) through this package's own NVRTC binding, and checks that every kernel the
// Go side launches is in the PTX. It needs only NVRTC (no GPU): scripts/setup.d/cuda.sh
// installs Debian's libnvrtc11.2 for it. It skips when NVRTC is absent.
func TestNVRTCCompilesEveryKernel(t *testing.T) {
	nv, err := LoadNVRTC()
	if err != nil {
		t.Skipf("NVRTC not available, cannot compile the kernels here: %v", err)
	}
	t.Logf("NVRTC %s from %s, architectures %v", nv.Version(), nv.Path, nv.SupportedArchs())
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	// compute_90 is the target (H100/H200); compute_80 (A100) too in soak runs, since each
	// architecture costs ~20 s of NVRTC time on a 2-core machine.
	archs := []string{"compute_90"}
	if os.Getenv("UMT_SOAK") == "1" {
		archs = append(archs, "compute_80")
	}
	var ptx strings.Builder
	for _, arch := range archs {
		for _, name := range SourceNames() {
			img, log, err := nv.Compile(name, srcs[name], CompileOptions(arch), false)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if strings.TrimSpace(log) != "" {
				t.Errorf("%s for %s: compiler warnings (keep the kernels warning-free):\n%s", name, arch, log)
			}
			if !strings.Contains(string(img), ".target sm_"+strings.TrimPrefix(arch, "compute_")) {
				t.Errorf("%s: PTX lacks the .target line for %s", name, arch)
			}
			if arch == "compute_90" {
				ptx.Write(img)
			}
		}
	}
	for _, k := range kernelNames() {
		if !strings.Contains(ptx.String(), ".entry "+k+"(") {
			t.Errorf("kernel %s, launched by the Go side, is not in the compiled PTX", k)
		}
	}
}

// TestNVRTCReportsCompileErrors checks that a broken program comes back as a CompileError
// carrying the compiler's log (what a user sees when a kernel edit breaks the build).
func TestNVRTCReportsCompileErrors(t *testing.T) {
	nv, err := LoadNVRTC()
	if err != nil {
		t.Skipf("NVRTC not available: %v", err)
	}
	_, _, err = nv.Compile("broken.cu", "extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }", CompileOptions("compute_80"), false)
	ce, ok := err.(*CompileError)
	if !ok {
		t.Fatalf("want *CompileError, got %T %v", err, err)
	}
	if !strings.Contains(ce.Log, "undefined_name") || !strings.Contains(ce.Error(), "broken.cu") {
		t.Errorf("error does not carry the compiler log and program name: %v", ce)
	}
}
