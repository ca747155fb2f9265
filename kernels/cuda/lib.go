package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebitengine/purego"
)

// EnvLibDir names the override of the library search: a list of directories separated by ':'.
// When it is set, only those directories are searched (no ld.so fallback), so a test or a user
// can pin exactly which CUDA libraries are used.
const EnvLibDir = "UMT_CUDA_LIB_DIR"

// library describes one shared library the backend needs, by the sonames tried in order.
type library struct {
	what   string   // for messages: "the CUDA driver"
	names  []string // sonames, newest first
	pipDir string   // directory of pip's nvidia wheel under site-packages, "" for none
	fix    string   // what to do when it is missing
}

var (
	libDriver = library{
		what:  "the CUDA driver",
		names: []string{"libcuda.so.1", "libcuda.so"},
		fix:   "install the NVIDIA driver (it provides libcuda.so.1) or point " + EnvLibDir + " at its directory",
	}
	libCublasLt = library{
		what:   "cuBLASLt",
		names:  []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"},
		pipDir: "nvidia/cublas/lib",
		fix:    "install the CUDA toolkit's cuBLAS (or `pip install nvidia-cublas-cu12`) or point " + EnvLibDir + " at the directory holding libcublasLt.so.*",
	}
	libNVRTC = library{
		what:   "NVRTC",
		names:  []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"},
		pipDir: "nvidia/cuda_nvrtc/lib",
		fix:    "install the CUDA toolkit's NVRTC (or `pip install nvidia-cuda-nvrtc-cu12`, or Debian's libnvrtc11.2) or point " + EnvLibDir + " at the directory holding libnvrtc.so.*",
	}
)

// SearchDirs returns the directories searched for the CUDA libraries, in order, and whether they
// come from the override variable. Without the override: LD_LIBRARY_PATH, the CUDA install
// directories (/usr/local/cuda*/lib64, newest first), the distribution's library directories,
// the WSL driver directory, and pip's nvidia-* wheels under every site-packages directory found
// below /usr/lib, /usr/local/lib, ~/.local/lib and $VIRTUAL_ENV.
func SearchDirs() (dirs []string, override bool) {
	if v, ok := os.LookupEnv(EnvLibDir); ok {
		return splitList(v), true
	}
	dirs = append(dirs, splitList(os.Getenv("LD_LIBRARY_PATH"))...)
	cudas, _ := filepath.Glob("/usr/local/cuda*/lib64")
	sort.Sort(sort.Reverse(sort.StringSlice(cudas))) // cuda-12.8 before cuda-12.4; "cuda" first
	dirs = append(dirs, cudas...)
	dirs = append(dirs, "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
		"/usr/lib/wsl/lib")
	return dedup(dirs), false
}

// sitePackages returns the site-packages / dist-packages directories that may hold pip's
// nvidia-* wheels.
func sitePackages() []string {
	var roots []string
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		roots = append(roots, filepath.Join(v, "lib"))
	}
	if h, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(h, ".local", "lib"))
	}
	roots = append(roots, "/usr/local/lib", "/usr/lib", "/opt/conda/lib")
	var out []string
	for _, r := range roots {
		for _, pat := range []string{"python3*/site-packages", "python3*/dist-packages"} {
			m, _ := filepath.Glob(filepath.Join(r, pat))
			out = append(out, m...)
		}
	}
	return dedup(out)
}

func splitList(v string) []string {
	var out []string
	for _, d := range strings.Split(v, ":") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// candidates lists the files to try for lib, in order: every soname in every search directory
// (and pip's wheel directory for it), keeping only files that exist.
func (l library) candidates(dirs []string, override bool) []string {
	all := dirs
	if !override && l.pipDir != "" {
		for _, sp := range sitePackages() {
			all = append(all, filepath.Join(sp, l.pipDir))
		}
	}
	var out []string
	for _, d := range all {
		for _, n := range l.names {
			p := filepath.Join(d, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				out = append(out, p)
			}
		}
	}
	return dedup(out)
}

// errNotFound marks "no such library anywhere", as opposed to a file that failed to load.
var errNotFound = errors.New("not found")

// openLib loads lib: the first candidate file that dlopens, else (without the override) the
// bare sonames through ld.so's cache. The error names every file tried and why it failed.
func openLib(l library) (handle uintptr, path string, err error) {
	dirs, override := SearchDirs()
	var tried []string
	for _, p := range l.candidates(dirs, override) {
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, p, nil
		}
		if strings.Contains(err.Error(), p) {
			tried = append(tried, err.Error()) // dlerror names the file already
		} else {
			tried = append(tried, fmt.Sprintf("%s: %v", p, err))
		}
	}
	if !override {
		for _, n := range l.names {
			h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err == nil {
				return h, n, nil
			}
		}
	}
	where := fmt.Sprintf("searched %s", strings.Join(dirs, ", "))
	if override {
		where = fmt.Sprintf("searched only %s=%q", EnvLibDir, os.Getenv(EnvLibDir))
	}
	if len(tried) > 0 {
		return 0, "", fmt.Errorf("cannot load %s (%s): every candidate failed: %s; %s",
			l.what, strings.Join(l.names, " / "), strings.Join(tried, "; "), l.fix)
	}
	return 0, "", fmt.Errorf("cannot find %s (%s) (%s): %w; %s",
		l.what, strings.Join(l.names, " / "), where, errNotFound, l.fix)
}

// symbols resolves names in handle into the function addresses of fns (same order). The error
// names every missing symbol: an old library or a file that is not the library it claims to be.
func symbols(handle uintptr, libPath string, names []string, fns []*uintptr) error {
	var missing []string
	for i, n := range names {
		addr, err := purego.Dlsym(handle, n)
		if err != nil || addr == 0 {
			missing = append(missing, n)
			continue
		}
		*fns[i] = addr
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks symbols %s; it is too old or not the library its name says; install a newer CUDA (12.x) or point %s elsewhere",
			libPath, strings.Join(missing, ", "), EnvLibDir)
	}
	return nil
}
