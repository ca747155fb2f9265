package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run everywhere: they point the library search at directories that cannot work
// and check that the backend says why, without panicking.

func TestSearchDirsOverride(t *testing.T) {
	t.Setenv(EnvLibDir, "/opt/a: /opt/b::")
	dirs, override := SearchDirs()
	if !override || len(dirs) != 2 || dirs[0] != "/opt/a" || dirs[1] != "/opt/b" {
		t.Fatalf("SearchDirs with %s set = %v, %v; want [/opt/a /opt/b], true", EnvLibDir, dirs, override)
	}
}

func TestSearchDirsDefault(t *testing.T) {
	t.Setenv(EnvLibDir, "") // registers the restore of the caller's value
	os.Unsetenv(EnvLibDir)
	dirs, override := SearchDirs()
	if override {
		t.Fatal("override reported without the variable")
	}
	for _, want := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib"} {
		found := false
		for _, d := range dirs {
			found = found || d == want
		}
		if !found {
			t.Errorf("default search lacks %s: %v", want, dirs)
		}
	}
}

func TestOpenEmptyDirSaysWhy(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvLibDir, dir)
	b, err := Open(Options{})
	if err == nil {
		b.Close()
		t.Fatal("Open succeeded with an empty library directory")
	}
	msg := err.Error()
	t.Logf("the reason a user sees: %v", err)
	for _, want := range []string{"cannot find the CUDA driver", "libcuda.so.1", EnvLibDir, dir, "install the NVIDIA driver"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if !errors.Is(err, errNotFound) {
		t.Errorf("error is not errNotFound: %v", err)
	}
	if _, err := LoadNVRTC(); err == nil || !strings.Contains(err.Error(), "cannot find NVRTC") {
		t.Errorf("LoadNVRTC with an empty directory: %v", err)
	}
	if _, err := loadCublasLt(); err == nil || !strings.Contains(err.Error(), "cannot find cuBLASLt") {
		t.Errorf("loadCublasLt with an empty directory: %v", err)
	}
}

func TestOpenFakeLibrarySaysWhy(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"libcuda.so.1", "libnvrtc.so.12", "libcublasLt.so.12"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("this is not an ELF shared object\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvLibDir, dir)
	_, err := Open(Options{})
	if err == nil {
		t.Fatal("Open succeeded with a fake libcuda.so.1")
	}
	msg := err.Error()
	t.Logf("the reason a user sees: %v", err)
	for _, want := range []string{"cannot load the CUDA driver", filepath.Join(dir, "libcuda.so.1")} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if errors.Is(err, errNotFound) {
		t.Errorf("a file that fails to load is reported as not found: %v", err)
	}
	if _, err := LoadNVRTC(); err == nil || !strings.Contains(err.Error(), "cannot load NVRTC") {
		t.Errorf("LoadNVRTC with a fake library: %v", err)
	}
}

// TestMissingSymbolsSaysWhich loads a real shared library under the driver's name (libc's
// libm) and checks that the error lists the driver symbols it lacks.
func TestMissingSymbolsSaysWhich(t *testing.T) {
	var real string
	for _, p := range []string{"/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6"} {
		if _, err := os.Stat(p); err == nil {
			real = p
			break
		}
	}
	if real == "" {
		t.Skip("no libm.so.6 to stand in for libcuda")
	}
	dir := t.TempDir()
	if err := os.Symlink(real, filepath.Join(dir, "libcuda.so.1")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLibDir, dir)
	_, err := Open(Options{})
	if err == nil {
		t.Fatal("Open succeeded with libm as libcuda")
	}
	t.Logf("the reason a user sees: %v", err)
	for _, want := range []string{"lacks symbols", "cuInit", "cuLaunchKernel", "too old or not the library"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestCUErrorMessage(t *testing.T) {
	e := &CUError{Func: "cuInit", Code: 100, Name: "CUDA_ERROR_NO_DEVICE", Desc: "no CUDA-capable device is detected"}
	msg := e.Error()
	for _, want := range []string{"cuInit failed with code 100", "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device", "nvidia-smi"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if !strings.Contains((&CUError{Func: "cuInit", Code: 35}).Error(), "upgrade the driver") {
		t.Error("code 35 (insufficient driver) does not say to upgrade the driver")
	}
}
