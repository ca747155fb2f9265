package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// emulated is set while the parity tests run against the CPU emulator: they then skip the
// shapes a naive emulated GEMM would take minutes over.
var emulated bool

// emuFull runs every shape on the emulator too (UMT_SOAK=1; about 4 minutes on 2 cores).
var emuFull = os.Getenv("UMT_SOAK") == "1"

// TestEmulator runs the GPU parity tests on this machine, without a GPU: the kernel sources
// are compiled by the host C++ compiler against testdata/emu/cuda_emu.h (each CUDA thread a
// fiber; __syncthreads and warp shuffles wait for the block's / warp's live threads) into a
// libcuda.so.1 that
// also emulates the driver API, beside an emulated cuBLASLt (float64 GEMM with bf16/tf32 input
// rounding) and NVRTC, cached under the user cache dir by source hash (the first build takes
// ~30 s of g++). UMT_CUDA_LIB_DIR points the backend at them, so the whole Go side runs
// as on a GPU: Open, the pool, argument packing of every launch, grids, cuBLASLt plans. It
// checks the kernels' logic (indexing, tiling, online softmax, reductions, tile edges), not
// their timing or the real compiler; TestNVRTCCompilesEveryKernel checks the latter. Skips
// without g++ (C++20). By default the quick shapes (~15 s); UMT_SOAK=1 runs every shape (~4 min
// on 2 cores); UMT_CUDA_EMU=0 skips it.
func TestEmulator(t *testing.T) {
	if os.Getenv("UMT_CUDA_EMU") == "0" {
		t.Skip("UMT_CUDA_EMU=0")
	}
	dir := buildEmulator(t)
	t.Setenv(EnvLibDir, dir)
	t.Setenv(EnvCacheDir, "off")
	emulated = true
	defer func() { emulated = false }()
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"OpenAndCache", TestGPUOpenAndCache}, {"Accounting", TestGPUAccountingAndMisuse}, {"Elementwise", TestParityElementwise}, {"Rows", TestParityRowsOps},
		{"GatherScatter", TestParityGatherScatter}, {"Gemm", TestParityGemm}, {"Attention", TestParityAttention}, {"AttentionBF16", TestParityAttentionBF16},
		{"AttentionBackward", TestParityAttentionBackward}, {"LayerNormBackward", TestParityLayerNormBackward},
		{"PointwiseBackward", TestParityPointwiseBackward}, {"LossesAdamW", TestParityLossesAndAdamW},
		{"TeacherSequence", TestGPUTeacherSequence},
	} {
		t.Run(c.name, c.fn)
	}
}

// buildEmulator builds (or finds cached) the emulator libraries from testdata/emu; it skips the
// test where no C++ compiler is installed.
func buildEmulator(t *testing.T) string {
	t.Helper()
	dir, err := BuildEmulator(filepath.Join("testdata", "emu"))
	if errors.Is(err, ErrNoCompiler) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
