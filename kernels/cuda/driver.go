package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// call invokes a C function of the loaded libraries with integer/pointer arguments and returns
// its result as the C int it is (CUresult, cublasStatus_t, nvrtcResult).
func call(fn uintptr, args ...uintptr) int32 {
	r, _, _ := purego.SyscallN(fn, args...)
	return int32(uint32(r))
}

// callRaw returns the full result register (for functions returning pointers).
func callRaw(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// hostPtr returns the address of a Go object for a C call. Storing p in a global on a path
// that never runs makes escape analysis put the object on the heap: a stack object could move
// (stack growth) between taking its address and the C call, and C would then write into the
// stale copy. The caller keeps the object alive across the call (using it afterwards, or
// runtime.KeepAlive).
func hostPtr(p unsafe.Pointer) uintptr {
	if neverTrue {
		escapeSink = p
	}
	return uintptr(p)
}

var (
	neverTrue  = false
	escapeSink unsafe.Pointer
)

// cString copies a NUL-terminated C string at p.
func cString(p uintptr) string {
	if p == 0 {
		return ""
	}
	b := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	n := 0
	for *(*byte)(unsafe.Add(b, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(b), n))
}

// cStr returns s as a NUL-terminated byte slice (keep it alive across the call).
func cStr(s string) []byte { return append([]byte(s), 0) }

// driver holds the CUDA driver API entry points (libcuda.so.1).
type driver struct {
	path string
	ctx  uintptr // the primary context once a device is open; ccall makes it current

	cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName   uintptr
	cuDeviceGetAttribute, cuDeviceTotalMem, cuDevicePrimaryCtxRetain             uintptr
	cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize, cuMemGetInfo   uintptr
	cuMemAlloc, cuMemFree, cuMemcpyHtoD, cuMemcpyDtoH, cuMemcpyDtoD, cuMemsetD32 uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuLaunchKernel        uintptr
	cuGetErrorName, cuGetErrorString                                             uintptr
}

// Device attributes (CUdevice_attribute).
const (
	attrMultiprocessorCount = 16
	attrComputeCapMajor     = 75
	attrComputeCapMinor     = 76
)

// CUresult values the backend names in its messages.
const (
	cuSuccess        = 0
	cuErrNoDevice    = 100
	cuErrInsufficent = 35 // CUDA_ERROR_INSUFFICIENT_DRIVER
)

func loadDriver() (*driver, error) {
	h, path, err := openLib(libDriver)
	if err != nil {
		return nil, err
	}
	d := &driver{path: path}
	names := []string{"cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
		"cuDeviceGetAttribute", "cuDeviceTotalMem_v2", "cuDevicePrimaryCtxRetain",
		"cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuCtxSynchronize", "cuMemGetInfo_v2",
		"cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2", "cuMemcpyDtoD_v2", "cuMemsetD32_v2",
		"cuModuleLoadData", "cuModuleUnload", "cuModuleGetFunction", "cuLaunchKernel",
		"cuGetErrorName", "cuGetErrorString"}
	fns := []*uintptr{&d.cuInit, &d.cuDriverGetVersion, &d.cuDeviceGetCount, &d.cuDeviceGet, &d.cuDeviceGetName,
		&d.cuDeviceGetAttribute, &d.cuDeviceTotalMem, &d.cuDevicePrimaryCtxRetain,
		&d.cuDevicePrimaryCtxRelease, &d.cuCtxSetCurrent, &d.cuCtxSynchronize, &d.cuMemGetInfo,
		&d.cuMemAlloc, &d.cuMemFree, &d.cuMemcpyHtoD, &d.cuMemcpyDtoH, &d.cuMemcpyDtoD, &d.cuMemsetD32,
		&d.cuModuleLoadData, &d.cuModuleUnload, &d.cuModuleGetFunction, &d.cuLaunchKernel,
		&d.cuGetErrorName, &d.cuGetErrorString}
	if err := symbols(h, path, names, fns); err != nil {
		return nil, err
	}
	return d, nil
}

// ccall calls a driver function with the context current on the calling OS thread. CUDA's
// current context is per OS thread and a goroutine may move between threads at any
// preemption point, so the goroutine is pinned to its thread for the call and the context
// set right before it (one extra cheap driver call).
func (d *driver) ccall(fn uintptr, args ...uintptr) int32 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if d.ctx != 0 {
		call(d.cuCtxSetCurrent, d.ctx)
	}
	return call(fn, args...)
}

// pinned runs f (cuBLASLt calls, which use the current context) on one OS thread with the
// context current.
func (d *driver) pinned(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if d.ctx != 0 {
		call(d.cuCtxSetCurrent, d.ctx)
	}
	f()
}

// CUError is a failed CUDA driver call: the function, the CUresult code and the driver's name
// and description of it.
type CUError struct {
	Func string
	Code int32
	Name string // e.g. CUDA_ERROR_NO_DEVICE
	Desc string // e.g. no CUDA-capable device is detected
}

func (e *CUError) Error() string {
	s := fmt.Sprintf("%s failed with code %d", e.Func, e.Code)
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Desc != "" {
		s += " (" + e.Desc + ")"
	}
	switch e.Code {
	case cuErrNoDevice:
		s += "; no NVIDIA GPU is visible to this process (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
	case cuErrInsufficent:
		s += "; the NVIDIA driver is older than this CUDA library needs: upgrade the driver"
	}
	return s
}

// check turns a CUresult into an error (nil on success).
func (d *driver) check(fn string, r int32) error {
	if r == cuSuccess {
		return nil
	}
	e := &CUError{Func: fn, Code: r}
	var name, desc uintptr
	if d.cuGetErrorName != 0 && call(d.cuGetErrorName, uintptr(r), hostPtr(unsafe.Pointer(&name))) == 0 {
		e.Name = cString(name)
	}
	if d.cuGetErrorString != 0 && call(d.cuGetErrorString, uintptr(r), hostPtr(unsafe.Pointer(&desc))) == 0 {
		e.Desc = cString(desc)
	}
	return e
}

// device is the GPU the backend runs on, with its primary context.
type device struct {
	ordinal    int
	handle     int32
	ctx        uintptr
	name       string
	major      int
	minor      int
	sms        int
	totalMem   uint64
	driverVers int
}

// openDevice initialises the driver and retains the primary context of GPU ordinal.
func (d *driver) openDevice(ordinal int) (*device, error) {
	if err := d.check("cuInit", call(d.cuInit, 0)); err != nil {
		return nil, err
	}
	dev := &device{ordinal: ordinal}
	var v, n int32
	_ = d.check("cuDriverGetVersion", call(d.cuDriverGetVersion, hostPtr(unsafe.Pointer(&v))))
	dev.driverVers = int(v)
	if err := d.check("cuDeviceGetCount", call(d.cuDeviceGetCount, hostPtr(unsafe.Pointer(&n)))); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("the CUDA driver sees no GPU (cuDeviceGetCount = 0)")
	}
	if ordinal < 0 || ordinal >= int(n) {
		return nil, fmt.Errorf("GPU %d requested but the driver sees %d (ordinals 0..%d)", ordinal, n, n-1)
	}
	if err := d.check("cuDeviceGet", call(d.cuDeviceGet, hostPtr(unsafe.Pointer(&dev.handle)), uintptr(ordinal))); err != nil {
		return nil, err
	}
	name := make([]byte, 256)
	if call(d.cuDeviceGetName, hostPtr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(dev.handle)) == 0 {
		dev.name = cString(uintptr(unsafe.Pointer(&name[0])))
	}
	runtime.KeepAlive(name)
	attr := func(a int) int {
		var x int32
		call(d.cuDeviceGetAttribute, hostPtr(unsafe.Pointer(&x)), uintptr(a), uintptr(dev.handle))
		return int(x)
	}
	dev.major, dev.minor, dev.sms = attr(attrComputeCapMajor), attr(attrComputeCapMinor), attr(attrMultiprocessorCount)
	call(d.cuDeviceTotalMem, hostPtr(unsafe.Pointer(&dev.totalMem)), uintptr(dev.handle))
	if dev.major < 7 {
		return nil, fmt.Errorf("GPU %d (%s) has compute capability %d.%d; kernels/cuda needs 7.0 or newer (Volta+)", ordinal, dev.name, dev.major, dev.minor)
	}
	if err := d.check("cuDevicePrimaryCtxRetain", call(d.cuDevicePrimaryCtxRetain, hostPtr(unsafe.Pointer(&dev.ctx)), uintptr(dev.handle))); err != nil {
		return nil, err
	}
	if err := d.check("cuCtxSetCurrent", call(d.cuCtxSetCurrent, dev.ctx)); err != nil {
		call(d.cuDevicePrimaryCtxRelease, uintptr(dev.handle))
		return nil, err
	}
	d.ctx = dev.ctx
	return dev, nil
}
