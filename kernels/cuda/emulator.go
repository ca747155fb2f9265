package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoCompiler is BuildEmulator's error where no g++ is installed.
var ErrNoCompiler = errors.New("cuda: no g++ to build the CUDA emulator")

// BuildEmulator compiles the CPU emulator of the CUDA driver, cuBLASLt and NVRTC (the sources in
// emu, the repository's kernels/cuda/testdata/emu, plus every embedded kernel) into a cache
// directory keyed by the hash of every source that goes into them, and returns it. Pointing
// EnvLibDir at it runs this backend, kernels and all, on the host: for tests of code above the
// kernels (models' forward and backward) without a GPU. It checks logic, not speed.
func BuildEmulator(emu string) (string, error) {
	cxx, err := exec.LookPath("g++")
	if err != nil {
		return "", ErrNoCompiler
	}
	srcs, err := Sources()
	if err != nil {
		return "", err
	}
	files := map[string]string{}
	for _, n := range []string{"cuda_emu.h", "driver.cc", "cublaslt.cc", "nvrtc.cc"} {
		b, err := os.ReadFile(filepath.Join(emu, n))
		if err != nil {
			return "", err
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
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-*")
	if err != nil {
		if err = os.MkdirAll(filepath.Dir(dir), 0o755); err == nil {
			tmp, err = os.MkdirTemp(filepath.Dir(dir), ".build-*")
		}
		if err != nil {
			return "", err
		}
	}
	defer os.RemoveAll(tmp)
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(tmp, n), []byte(s), 0o644); err != nil {
			return "", err
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
			return "", fmt.Errorf("building the CUDA emulator's %s: %v\n%s", lib, err, out)
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, statErr := os.Stat(filepath.Join(dir, "libnvrtc.so.12")); statErr != nil {
			return "", err
		}
	}
	return dir, nil
}
