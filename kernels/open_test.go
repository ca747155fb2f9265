package kernels_test

import (
	"strings"
	"testing"

	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/kernels/cuda"
)

// noGPU makes the CUDA backend find no driver, as on a machine without a GPU.
func noGPU(t *testing.T) {
	t.Setenv(cuda.EnvLibDir, t.TempDir())
}

// widestGemm runs one GEMM big enough that the CPU backend splits it over every thread it may
// use, and returns how many goroutines the backend ran it on.
func widestGemm(t *testing.T, d *kernels.Device) int {
	t.Helper()
	c, ok := d.Backend.(*cpu.Backend)
	if !ok {
		t.Fatalf("%s: want the CPU backend, got %T", d.Reason, d.Backend)
	}
	const n = 256
	a, b, out := c.Alloc(n*n), c.Alloc(n*n), c.Alloc(n*n)
	c.Fill(a, 1)
	c.Fill(b, 2)
	c.Gemm(kernels.Gemm{M: n, N: n, K: n, Alpha: 1, A: a, LDA: n, B: b, LDB: n, C: out, LDC: n})
	got := make([]float32, 1)
	if err := c.Download(got, out.View(0, 1)); err != nil {
		t.Fatal(err)
	}
	if got[0] != 2*n {
		t.Fatalf("GEMM gave %v, want %v", got[0], 2*n)
	}
	for _, x := range []kernels.Buf{a, b, out} {
		c.Free(x)
	}
	return c.MaxParallel()
}

// TestAutoWithoutGPUHonoursThreads is the bug of issue 13: --device auto with no GPU built the
// CPU backend with empty options, so --threads 1 ran on every core. The thread limit must hold
// on every path to the CPU, observed in the goroutines a GEMM ran on and in OpenBLAS's pool.
func TestAutoWithoutGPUHonoursThreads(t *testing.T) {
	noGPU(t)
	for _, spec := range []string{"auto", "", "cpu"} {
		for _, threads := range []int{1, 2} {
			d, err := kernels.Open(spec, kernels.Options{Threads: threads})
			if err != nil {
				t.Fatalf("Open(%q): %v", spec, err)
			}
			if d.Kind != kernels.KindCPU || d.Threads != threads {
				t.Fatalf("Open(%q, %d threads) = %s with %d threads (%s)", spec, threads, d.Kind, d.Threads, d.Reason)
			}
			if got := widestGemm(t, d); got != threads {
				t.Errorf("Open(%q, %d threads): a 256x256 GEMM ran on %d goroutines", spec, threads, got)
			}
			if want := "cpu("; !strings.HasPrefix(d.Reason, want) || !strings.Contains(d.Reason, map[int]string{1: "1 threads", 2: "2 threads"}[threads]) {
				t.Errorf("Open(%q): reason %q does not name the CPU and its thread count", spec, d.Reason)
			}
			if bt := cpu.BLASThreads(); bt > 1 {
				t.Errorf("OpenBLAS runs its own pool of %d threads beside the backend's", bt)
			}
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	}
}

// TestOpenSpecs checks every --device spelling: auto always gives a backend and says why the GPU
// is not used, cuda without a GPU fails with the reason and points at auto, a bad ordinal or an
// unknown device is an error that shows the valid spellings.
func TestOpenSpecs(t *testing.T) {
	noGPU(t)
	d, err := kernels.Open("AUTO", kernels.Options{})
	if err != nil {
		t.Fatalf("auto: %v", err)
	}
	if d.Kind != kernels.KindCPU || !strings.Contains(d.Reason, "GPU not used") || !strings.Contains(d.Reason, "cannot find the CUDA driver") {
		t.Errorf("auto without a GPU: %s, reason %q; want the CPU and why the GPU is not used", d.Kind, d.Reason)
	}
	if _, err := d.Trainer(); err != nil {
		t.Errorf("the CPU backend must train: %v", err)
	}
	for _, tc := range []struct{ spec, want string }{
		{"cuda", "cannot find the CUDA driver"},
		{"gpu", "--device=auto"},
		{"cuda:1", "cannot find the CUDA driver"},
		{"cuda:x", "ordinal must be a number"},
		{"cuda:-1", "ordinal must be a number"},
		{"tpu", "use auto, cpu, cuda or cuda:N"},
		{"cpu:1", "use auto, cpu, cuda or cuda:N"},
	} {
		if d, err := kernels.Open(tc.spec, kernels.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, %v; want an error containing %q", tc.spec, d, err, tc.want)
		}
	}
	if d, err := kernels.Open(" Cpu ", kernels.Options{PureGo: true}); err != nil || !strings.Contains(d.Reason, "pure-go gemm") {
		t.Errorf("cpu with PureGo: %v, %v", d, err)
	}
}

func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]kernels.Precision{"fp32": kernels.FP32, "": kernels.FP32, "tf32": kernels.TF32, "BF16": kernels.BF16} {
		if p, err := kernels.ParsePrecision(s); err != nil || p != want || (s != "" && p.String() != strings.ToLower(s)) {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := kernels.ParsePrecision("fp8"); err == nil || !strings.Contains(err.Error(), "fp32, tf32 or bf16") {
		t.Errorf("fp8: %v", err)
	}
}
