package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/kernels/cuda"
)

// CUDAEmulator opens the CUDA backend on kernels/cuda's host emulator, so code above the
// kernels tests its launches without a GPU; it is closed at the end of the test. The test is
// skipped with UMT_CUDA_EMU=0 or when no C compiler can build the emulator.
func CUDAEmulator(tb testing.TB) *cuda.Backend {
	tb.Helper()
	if os.Getenv("UMT_CUDA_EMU") == "0" {
		tb.Skip("UMT_CUDA_EMU=0")
	}
	dir, err := cuda.BuildEmulator(filepath.Join(RepoRoot(tb), "kernels", "cuda", "testdata", "emu"))
	if errors.Is(err, cuda.ErrNoCompiler) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Setenv(cuda.EnvLibDir, dir)
	tb.Setenv(cuda.EnvCacheDir, "off")
	gpu, err := cuda.Open(cuda.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { gpu.Close() })
	return gpu
}
