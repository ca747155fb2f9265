package cuda

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// NVRTC is a loaded NVRTC library (libnvrtc.so.*): it compiles CUDA C to PTX or CUBIN at run
// time. It needs no GPU, so tests use it on CPU-only machines to check the embedded kernels.
type NVRTC struct {
	Path         string
	Major, Minor int
	archs        []int // supported SM numbers (e.g. 52 ... 90), empty when unknown

	create, compile, destroy, logSize, getLog, ptxSize, getPTX, cubinSize, getCUBIN, errStr uintptr
	numArchs, getArchs                                                                      uintptr
}

// LoadNVRTC finds and loads NVRTC (see [SearchDirs]); the error says why it is unusable.
func LoadNVRTC() (*NVRTC, error) {
	h, path, err := openLib(libNVRTC)
	if err != nil {
		return nil, err
	}
	n := &NVRTC{Path: path}
	var version uintptr
	if err := symbols(h, path,
		[]string{"nvrtcVersion", "nvrtcCreateProgram", "nvrtcCompileProgram", "nvrtcDestroyProgram",
			"nvrtcGetProgramLogSize", "nvrtcGetProgramLog", "nvrtcGetPTXSize", "nvrtcGetPTX", "nvrtcGetErrorString"},
		[]*uintptr{&version, &n.create, &n.compile, &n.destroy, &n.logSize, &n.getLog, &n.ptxSize, &n.getPTX, &n.errStr},
	); err != nil {
		return nil, err
	}
	// Optional (NVRTC >= 11.1 / 11.2): CUBIN output and the list of supported architectures.
	_ = symbols(h, path, []string{"nvrtcGetCUBINSize", "nvrtcGetCUBIN"}, []*uintptr{&n.cubinSize, &n.getCUBIN})
	_ = symbols(h, path, []string{"nvrtcGetNumSupportedArchs", "nvrtcGetSupportedArchs"}, []*uintptr{&n.numArchs, &n.getArchs})
	var major, minor int32
	if r := call(version, hostPtr(unsafe.Pointer(&major)), hostPtr(unsafe.Pointer(&minor))); r != 0 {
		return nil, fmt.Errorf("%s: nvrtcVersion failed with code %d; the library is broken, reinstall it", path, r)
	}
	n.Major, n.Minor = int(major), int(minor)
	if n.numArchs != 0 && n.getArchs != 0 {
		var cnt int32
		if call(n.numArchs, hostPtr(unsafe.Pointer(&cnt))) == 0 && cnt > 0 && cnt < 1000 {
			a := make([]int32, cnt)
			if call(n.getArchs, hostPtr(unsafe.Pointer(&a[0]))) == 0 {
				for _, x := range a {
					n.archs = append(n.archs, int(x))
				}
			}
		}
	}
	return n, nil
}

// Version is e.g. "12.4".
func (n *NVRTC) Version() string { return fmt.Sprintf("%d.%d", n.Major, n.Minor) }

// SupportedArchs lists the SM numbers this NVRTC compiles for (nil when it cannot say).
func (n *NVRTC) SupportedArchs() []int { return n.archs }

func (n *NVRTC) errString(r int32) string {
	return cString(callRaw(n.errStr, uintptr(r)))
}

// CompileError is a failed NVRTC compilation with the compiler's log.
type CompileError struct {
	Name, Arch string
	Code       int32
	Msg        string
	Log        string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("NVRTC could not compile %s for %s (code %d, %s):\n%s", e.Name, e.Arch, e.Code, e.Msg, strings.TrimSpace(e.Log))
}

// Compile compiles CUDA C source (named name in messages) with the given options. With
// cubin true it returns a CUBIN (arch must then be a real sm_XX), otherwise PTX text. The
// returned log holds the compiler's warnings.
func (n *NVRTC) Compile(name, source string, options []string, cubin bool) (image []byte, log string, err error) {
	if cubin && n.getCUBIN == 0 {
		return nil, "", fmt.Errorf("NVRTC %s at %s cannot emit CUBIN (needs 11.1+)", n.Version(), n.Path)
	}
	src, nm := cStr(source), cStr(name)
	var prog uintptr
	if r := call(n.create, hostPtr(unsafe.Pointer(&prog)), hostPtr(unsafe.Pointer(&src[0])), hostPtr(unsafe.Pointer(&nm[0])), 0, 0, 0); r != 0 {
		return nil, "", fmt.Errorf("nvrtcCreateProgram(%s): code %d %s", name, r, n.errString(r))
	}
	defer func() {
		call(n.destroy, hostPtr(unsafe.Pointer(&prog)))
		runtime.KeepAlive(&prog)
	}()
	opts := make([][]byte, len(options))
	ptrs := make([]uintptr, len(options)+1)
	for i, o := range options {
		opts[i] = cStr(o)
		ptrs[i] = hostPtr(unsafe.Pointer(&opts[i][0]))
	}
	r := call(n.compile, prog, uintptr(len(options)), hostPtr(unsafe.Pointer(&ptrs[0])))
	runtime.KeepAlive(opts)
	runtime.KeepAlive(ptrs)
	runtime.KeepAlive(src)
	runtime.KeepAlive(nm)
	var size uintptr
	if call(n.logSize, prog, hostPtr(unsafe.Pointer(&size))) == 0 && size > 1 {
		buf := make([]byte, size)
		if call(n.getLog, prog, hostPtr(unsafe.Pointer(&buf[0]))) == 0 {
			log = strings.TrimRight(string(buf), "\x00")
		}
	}
	if r != 0 {
		arch := ""
		for _, o := range options {
			if strings.HasPrefix(o, "--gpu-architecture=") {
				arch = strings.TrimPrefix(o, "--gpu-architecture=")
			}
		}
		return nil, log, &CompileError{Name: name, Arch: arch, Code: r, Msg: n.errString(r), Log: log}
	}
	sizeFn, getFn := n.ptxSize, n.getPTX
	if cubin {
		sizeFn, getFn = n.cubinSize, n.getCUBIN
	}
	if r := call(sizeFn, prog, hostPtr(unsafe.Pointer(&size))); r != 0 {
		return nil, log, fmt.Errorf("NVRTC output size of %s: code %d %s", name, r, n.errString(r))
	}
	image = make([]byte, size)
	if size > 0 {
		if r := call(getFn, prog, hostPtr(unsafe.Pointer(&image[0]))); r != 0 {
			return nil, log, fmt.Errorf("NVRTC output of %s: code %d %s", name, r, n.errString(r))
		}
	}
	return image, log, nil
}
