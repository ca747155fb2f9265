package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
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

// buildEmulator compiles the emulator libraries into a cache directory keyed by the hash of
// every source that goes into them, and returns it.
func buildEmulator(t *testing.T) string {
	t.Helper()
	cxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("no g++ to build the CUDA emulator")
	}
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	emu := filepath.Join("testdata", "emu")
	files := map[string]string{}
	for _, n := range []string{"cuda_emu.h", "driver.cc", "cublaslt.cc", "nvrtc.cc"} {
		b, err := os.ReadFile(filepath.Join(emu, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = string(b)
	}
	for _, p := range programs {
		var b strings.Builder
		b.WriteString("#include \"cuda_emu.h\"\n")
		b.WriteString(srcs[p.file])
		b.WriteString("\n")
		for _, k := range p.kernels {
			fmt.Fprintf(&b, "static EmuReg reg_%s(%q, emu_tramp(%s));\n", k, k, k)
		}
		files["prog_"+strings.TrimSuffix(p.file, ".cu")+".cc"] = b.String()
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00%s", n, len(files[n]), files[n])
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "umt", "cuda-emu", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "libnvrtc.so.12")); err == nil {
		return dir
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-*")
	if err != nil {
		if err = os.MkdirAll(filepath.Dir(dir), 0o755); err == nil {
			tmp, err = os.MkdirTemp(filepath.Dir(dir), ".build-*")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	defer os.RemoveAll(tmp)
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(tmp, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var progs []string
	for _, n := range names {
		if strings.HasPrefix(n, "prog_") {
			progs = append(progs, n)
		}
	}
	flags := []string{"-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-Wno-unknown-pragmas"}
	for lib, inputs := range map[string][]string{
		"libcuda.so.1":      append([]string{"driver.cc"}, progs...),
		"libcublasLt.so.12": {"cublaslt.cc"},
		"libnvrtc.so.12":    {"nvrtc.cc"},
	} {
		cmd := exec.Command(cxx, append(append(flags, "-o", lib), inputs...)...)
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the CUDA emulator's %s: %v\n%s", lib, err, out)
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(dir, "libnvrtc.so.12")); statErr != nil {
			t.Fatal(err)
		}
	}
	return dir
}
