package cuda

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCacheKeyDeterministicAndSensitive(t *testing.T) {
	opts := CompileOptions("sm_90")
	k := CacheKey("src", opts, "sm_90", "12.4")
	if k != CacheKey("src", CompileOptions("sm_90"), "sm_90", "12.4") {
		t.Fatal("same inputs give different keys")
	}
	if len(k) != 64 {
		t.Fatalf("key %q is not a hex sha256", k)
	}
	for name, other := range map[string]string{
		"source":  CacheKey("src ", opts, "sm_90", "12.4"),
		"options": CacheKey("src", append(CompileOptions("sm_90"), "-G"), "sm_90", "12.4"),
		"arch":    CacheKey("src", opts, "sm_80", "12.4"),
		"nvrtc":   CacheKey("src", opts, "sm_90", "12.5"),
		// Boundaries between parts count: moving text from one part to the next changes the key.
		"split": CacheKey("sr", []string{"c" + opts[0]}, "sm_90", "12.4"),
	} {
		if other == k {
			t.Errorf("changing the %s does not change the key", name)
		}
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv(EnvCacheDir, "/x/y")
	if CacheDir() != "/x/y" {
		t.Errorf("CacheDir with %s=/x/y = %q", EnvCacheDir, CacheDir())
	}
	t.Setenv(EnvCacheDir, "off")
	if CacheDir() != "" {
		t.Errorf("CacheDir with %s=off = %q, want caching off", EnvCacheDir, CacheDir())
	}
	t.Setenv(EnvCacheDir, "")
	t.Setenv("XDG_CACHE_HOME", "/c")
	if CacheDir() != "/c/umt/cuda-kernels" {
		t.Errorf("default CacheDir = %q, want under the user cache dir", CacheDir())
	}
}

// TestSourcesEmbedded checks that every program the backend loads is embedded, nothing else
// is, the prelude is prepended, and every kernel is defined in its program (by name, or through
// the instantiation macros of attention*.cu).
func TestSourcesEmbedded(t *testing.T) {
	srcs, err := Sources()
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != len(programs) {
		t.Errorf("%d embedded programs, %d listed in programs", len(srcs), len(programs))
	}
	macro := regexp.MustCompile(`^(attn_fwd|attn_bwd_dq|attn_bwd_dkv)_d(\d+)$`)
	for _, p := range programs {
		src, found := srcs[p.file]
		if !found {
			t.Errorf("program %s is not embedded", p.file)
			continue
		}
		if !strings.HasPrefix(src, "// Shared by every kernel program") || !strings.Contains(src, "#line 1 \""+p.file+"\"") {
			t.Errorf("%s: prelude or #line marker missing", p.file)
		}
		for _, k := range p.kernels {
			if m := macro.FindStringSubmatch(k); m != nil {
				inst := "ATT_FWD(" + m[2]
				if m[1] != "attn_fwd" {
					inst = "ATT_BWD(" + m[2] + ")"
				}
				if !strings.Contains(src, inst) {
					t.Errorf("%s: kernel %s has no instantiation %s...", p.file, k, inst)
				}
				continue
			}
			def := regexp.MustCompile(`extern "C" __global__ void (__launch_bounds__\(\d+\) )?` + k + `\(`)
			if !def.MatchString(src) {
				t.Errorf("%s does not define kernel %s", p.file, k)
			}
		}
	}
}

func TestTargetArch(t *testing.T) {
	hopper := []int{50, 52, 60, 70, 75, 80, 86, 89, 90}
	for _, c := range []struct {
		major, minor int
		supported    []int
		arch         string
		cubin, err   bool
	}{
		{9, 0, hopper, "sm_90", true, false},                      // H100/H200 with a matching NVRTC
		{8, 0, hopper, "sm_80", true, false},                      // A100
		{10, 0, hopper, "compute_90", false, false},               // newer GPU, older NVRTC: PTX, JIT by the driver
		{8, 7, []int{70, 75, 80, 86}, "compute_86", false, false}, // unknown minor: PTX of the best below
		{9, 0, nil, "compute_90", false, false},                   // NVRTC cannot list its architectures
		{7, 0, []int{80, 90}, "", false, true},                    // nothing at or below the GPU
	} {
		arch, cubin, err := TargetArch(c.major, c.minor, c.supported)
		if arch != c.arch || cubin != c.cubin || (err != nil) != c.err {
			t.Errorf("TargetArch(%d.%d, %v) = %q, %v, %v; want %q, %v, error %v", c.major, c.minor, c.supported, arch, cubin, err, c.arch, c.cubin, c.err)
		}
	}
}

// TestCompileCached compiles a small program through NVRTC into a fresh cache directory,
// then checks that the second request is a cache hit with the same bytes.
func TestCompileCached(t *testing.T) {
	nv, err := LoadNVRTC()
	if err != nil {
		t.Skipf("NVRTC not available: %v", err)
	}
	dir := t.TempDir()
	src := "extern \"C\" __global__ void twice(float* x) { x[threadIdx.x] *= 2.0f; }\n"
	img, hit, err := compileCached(nv, "twice.cu", src, "compute_80", false, dir)
	if err != nil || hit {
		t.Fatalf("first compile: hit=%v err=%v", hit, err)
	}
	if img[len(img)-1] != 0 || !strings.Contains(string(img), ".entry twice(") {
		t.Fatalf("PTX is not NUL-terminated or lacks the kernel")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.ptx"))
	if len(files) != 1 || filepath.Base(files[0]) != CacheKey(src, CompileOptions("compute_80"), "compute_80", nv.Version())+".ptx" {
		t.Fatalf("cache files %v, want one named by CacheKey", files)
	}
	again, hit, err := compileCached(nv, "twice.cu", src, "compute_80", false, dir)
	if err != nil || !hit || string(again) != string(img) {
		t.Fatalf("second compile: hit=%v err=%v same=%v", hit, err, string(again) == string(img))
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
