package cuda

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The kernel sources: one NVRTC program (one CUmodule) per .cu file, each prefixed by
// prelude.cuh (shared helpers: warp reductions, launch-bound constants).
//
//go:embed *.cu prelude.cuh
var sources embed.FS

// EnvCacheDir overrides where compiled kernels are cached (default: the user cache directory,
// e.g. ~/.cache/umt/cuda-kernels). Set it to "off" to compile every time.
const EnvCacheDir = "UMT_CUDA_CACHE"

// Sources returns the embedded kernel programs by file name, each with the prelude prepended:
// exactly the text NVRTC compiles.
func Sources() (map[string]string, error) {
	prelude, err := sources.ReadFile("prelude.cuh")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(sources, "*.cu")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		b, err := sources.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[n] = string(prelude) + "\n#line 1 \"" + n + "\"\n" + string(b)
	}
	return out, nil
}

// SourceNames returns the embedded program names, sorted.
func SourceNames() []string {
	names, _ := fs.Glob(sources, "*.cu")
	sort.Strings(names)
	return names
}

// CompileOptions are the NVRTC options for arch ("sm_90" or "compute_90"). No fast-math: the
// parity tests hold the kernels to float32 accuracy (expf, erff, rsqrtf as IEEE-ish library
// calls), and the cost is negligible next to the GEMMs.
func CompileOptions(arch string) []string {
	return []string{"--gpu-architecture=" + arch, "--std=c++14", "--fmad=true", "-DUMT_KERNELS=1"}
}

// CacheKey is the cache file name of a compiled program: sha256 over the source, the options,
// the architecture and the NVRTC version, so any change to one of them compiles afresh.
func CacheKey(source string, options []string, arch, nvrtcVersion string) string {
	h := sha256.New()
	for _, part := range []string{"umt-cuda-cache-v1", source, strings.Join(options, "\x00"), arch, nvrtcVersion} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CacheDir is where compiled kernels live: $UMT_CUDA_CACHE, else <user cache dir>/umt/cuda-kernels.
// It returns "" when caching is off or no cache directory exists.
func CacheDir() string {
	if v := os.Getenv(EnvCacheDir); v != "" {
		if v == "off" {
			return ""
		}
		return v
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "umt", "cuda-kernels")
}

// TargetArch picks what to compile for a GPU of compute capability major.minor given the SM
// numbers NVRTC supports (nil when unknown): the GPU's own sm_XX as a CUBIN when NVRTC knows
// it, else PTX for the newest architecture NVRTC knows below it (the driver JIT-compiles PTX
// for newer GPUs). sm_90a (wgmma/TMA) is not used: the kernels need nothing beyond sm_80.
func TargetArch(major, minor int, supported []int) (arch string, cubin bool, err error) {
	want := major*10 + minor
	if len(supported) == 0 {
		return fmt.Sprintf("compute_%d", want), false, nil
	}
	best := 0
	for _, a := range supported {
		if a == want {
			return fmt.Sprintf("sm_%d", want), true, nil
		}
		if a < want && a > best {
			best = a
		}
	}
	if best == 0 {
		return "", false, fmt.Errorf("NVRTC supports architectures %v, none at or below the GPU's sm_%d; use the NVRTC of CUDA that matches this GPU", supported, want)
	}
	return fmt.Sprintf("compute_%d", best), false, nil
}

// compileCached returns the compiled image of program name for arch, from the cache directory
// when present, else compiled by nv and written there (atomically; a cache write failure only
// costs the next start a recompilation). The bool reports a cache hit.
func compileCached(nv *NVRTC, name, source, arch string, cubin bool, dir string) ([]byte, bool, error) {
	opts := CompileOptions(arch)
	ext := ".ptx"
	if cubin {
		ext = ".cubin"
	}
	var path string
	if dir != "" {
		path = filepath.Join(dir, CacheKey(source, opts, arch, nv.Version())+ext)
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b, true, nil
		}
	}
	img, _, err := nv.Compile(name, source, opts, cubin)
	if err != nil {
		return nil, false, err
	}
	if !cubin && (len(img) == 0 || img[len(img)-1] != 0) {
		img = append(img, 0) // cuModuleLoadData reads PTX as a C string
	}
	if path != "" {
		_ = writeAtomic(path, img)
	}
	return img, false, nil
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}
