package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/umt-dev/umt/kernels"
)

// Options configures a CUDA backend.
type Options struct {
	// Device is the GPU ordinal (as the driver numbers them after CUDA_VISIBLE_DEVICES).
	Device int
	// Precision is the compute path of GEMMs (default FP32; BF16 for speed).
	Precision Precision
	// WorkspaceBytes is cuBLASLt's workspace; 0 means 32 MiB.
	WorkspaceBytes int
}

// Backend implements kernels.Backend and kernels.Trainer on one GPU. Create it with Open and
// release it with Close. Like every backend it is used by one goroutine at a time; every
// driver and cuBLASLt call pins the goroutine to its OS thread and makes the context current
// there first, so the goroutine may move between threads between calls.
type Backend struct {
	drv  *driver
	dev  *device
	nv   *NVRTC
	lt   *cublasLt
	arch string

	modules []uintptr
	fns     map[string]uintptr

	pool   *pool
	stats  kernels.MemStats
	err    error
	prec   Precision
	plans  map[gemmKey]*gemmPlan
	ws     uint64 // cuBLASLt workspace (device)
	wsSize uint64

	errFlag   uint64 // device int: first bad gather/scatter index (position+1), 0 if none
	flagDirty bool   // a kernel that may set errFlag ran since the last check

	// Kernel arguments live here (heap, fixed addresses) while cuLaunchKernel reads them.
	argv [24]uint64
	argp [24]uintptr

	cacheHits, compiled int
}

var (
	_ kernels.Backend = (*Backend)(nil)
	_ kernels.Trainer = (*Backend)(nil)
)

// driverAlloc is the pool's allocator: cuMemAlloc / cuMemFree.
type driverAlloc struct{ d *driver }

func (a driverAlloc) alloc(bytes uint64) (uint64, error) {
	p := new(uint64)
	if err := a.d.check("cuMemAlloc", a.d.ccall(a.d.cuMemAlloc, hostPtr(unsafe.Pointer(p)), uintptr(bytes))); err != nil {
		return 0, err
	}
	return *p, nil
}

func (a driverAlloc) free(ptr uint64) error {
	return a.d.check("cuMemFree", a.d.ccall(a.d.cuMemFree, uintptr(ptr)))
}

// Open loads the CUDA libraries, initialises GPU o.Device, compiles (or loads from the cache)
// the kernels and returns the backend. The error says why the GPU cannot be used; nothing is
// left allocated when it fails.
func Open(o Options) (b *Backend, err error) {
	drv, err := loadDriver()
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	dev, err := drv.openDevice(o.Device)
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	b = &Backend{drv: drv, dev: dev, fns: map[string]uintptr{}, plans: map[gemmKey]*gemmPlan{}, prec: o.Precision}
	b.pool = newPool(driverAlloc{drv})
	for i := range b.argp {
		b.argp[i] = uintptr(unsafe.Pointer(&b.argv[i]))
	}
	defer func() {
		if err != nil {
			b.Close()
			b = nil
		}
	}()
	if b.nv, err = LoadNVRTC(); err != nil {
		return b, fmt.Errorf("cuda: %w", err)
	}
	drv.pinned(func() { b.lt, err = loadCublasLt() })
	if err != nil {
		return b, fmt.Errorf("cuda: %w", err)
	}
	if err = b.loadKernels(); err != nil {
		return b, fmt.Errorf("cuda: %w", err)
	}
	b.wsSize = uint64(o.WorkspaceBytes)
	if b.wsSize == 0 {
		b.wsSize = 32 << 20
	}
	a := driverAlloc{drv}
	if b.ws, err = a.alloc(b.wsSize); err != nil {
		return b, fmt.Errorf("cuda: cuBLASLt workspace: %w", err)
	}
	if b.errFlag, err = a.alloc(4); err != nil {
		return b, fmt.Errorf("cuda: %w", err)
	}
	if err = drv.check("cuMemsetD32", drv.ccall(drv.cuMemsetD32, uintptr(b.errFlag), 0, 1)); err != nil {
		return b, fmt.Errorf("cuda: %w", err)
	}
	return b, nil
}

// loadKernels compiles every embedded program for this GPU (or reads it from the cache) and
// resolves every kernel the backend launches.
func (b *Backend) loadKernels() error {
	arch, cubin, err := TargetArch(b.dev.major, b.dev.minor, b.nv.SupportedArchs())
	if err != nil {
		return err
	}
	b.arch = arch
	srcs, err := Sources()
	if err != nil {
		return err
	}
	dir := CacheDir()
	for _, p := range programs {
		img, hit, err := compileCached(b.nv, p.file, srcs[p.file], arch, cubin, dir)
		if err != nil {
			return err
		}
		if hit {
			b.cacheHits++
		} else {
			b.compiled++
		}
		mod := new(uintptr)
		if err := b.drv.check("cuModuleLoadData("+p.file+")", b.drv.ccall(b.drv.cuModuleLoadData, hostPtr(unsafe.Pointer(mod)), hostPtr(unsafe.Pointer(&img[0])))); err != nil {
			return err
		}
		b.modules = append(b.modules, *mod)
		for _, k := range p.kernels {
			f := new(uintptr)
			name := cStr(k)
			if err := b.drv.check("cuModuleGetFunction("+k+")", b.drv.ccall(b.drv.cuModuleGetFunction, hostPtr(unsafe.Pointer(f)), *mod, hostPtr(unsafe.Pointer(&name[0])))); err != nil {
				return err
			}
			b.fns[k] = *f
		}
	}
	return nil
}

// Close waits for the GPU, frees every block the pool holds, the workspace, the modules and
// the cuBLASLt handle, and releases the context. Buffers still live are freed by the driver
// with the context; Close reports them as an error so leaks show up in tests.
func (b *Backend) Close() error {
	if b == nil || b.drv == nil {
		return nil
	}
	first := b.drv.check("cuCtxSynchronize", b.drv.ccall(b.drv.cuCtxSynchronize))
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	b.drv.pinned(func() {
		for _, p := range b.plans {
			b.lt.free(p)
		}
	})
	b.plans = map[gemmKey]*gemmPlan{}
	if b.pool != nil {
		keep(b.pool.release())
	}
	a := driverAlloc{b.drv}
	if b.ws != 0 {
		keep(a.free(b.ws))
		b.ws = 0
	}
	if b.errFlag != 0 {
		keep(a.free(b.errFlag))
		b.errFlag = 0
	}
	for _, m := range b.modules {
		b.drv.ccall(b.drv.cuModuleUnload, m)
	}
	b.modules = nil
	if b.lt != nil && b.lt.handle != 0 {
		b.drv.pinned(func() { call(b.lt.destroy, b.lt.handle) })
		b.lt.handle = 0
	}
	if b.dev != nil && b.dev.ctx != 0 {
		call(b.drv.cuDevicePrimaryCtxRelease, uintptr(b.dev.handle))
		b.dev.ctx = 0
		b.drv.ctx = 0
	}
	if b.stats.LiveAllocs > 0 {
		keep(fmt.Errorf("cuda.Close: %d buffers (%d bytes) were never freed", b.stats.LiveAllocs, b.stats.LiveBytes))
	}
	return first
}

// Name says which GPU, architecture and GEMM precision, e.g.
// "cuda(NVIDIA H100 80GB HBM3, sm_90, gemm bf16)".
func (b *Backend) Name() string {
	return fmt.Sprintf("cuda(%s, %s, gemm %s)", b.dev.name, b.arch, b.prec)
}

// Device describes the GPU: name, compute capability, SMs, memory, driver version, and where
// the libraries were loaded from.
func (b *Backend) Device() string {
	return fmt.Sprintf("%s (sm_%d%d, %d SMs, %.1f GiB, driver %d.%d); libcuda %s, cuBLASLt %d at %s, NVRTC %s at %s; kernels for %s (%d compiled, %d from cache)",
		b.dev.name, b.dev.major, b.dev.minor, b.dev.sms, float64(b.dev.totalMem)/(1<<30), b.dev.driverVers/1000, b.dev.driverVers%1000/10,
		b.drv.path, b.lt.Version(), b.lt.path, b.nv.Version(), b.nv.Path, b.arch, b.compiled, b.cacheHits)
}

// SetPrecision switches the GEMM compute path for later calls.
func (b *Backend) SetPrecision(p Precision) { b.prec = p }

// Precision is the current GEMM compute path.
func (b *Backend) Precision() Precision { return b.prec }

// fail records the first error; later operations are skipped until Sync.
func (b *Backend) fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

// ok reports whether an operation may run: no pending error and none
// among its argument checks (the first is recorded).
func (b *Backend) ok(errs ...error) bool {
	if b.err != nil {
		return false
	}
	for _, e := range errs {
		if e != nil {
			b.fail(e)
			return false
		}
	}
	return true
}

// arg kinds for launch: device pointers are uint64, C int is int32, i64 is int64.
// A launch after a recorded error (an operand that failed dptr, say) is skipped: it would
// otherwise run with a null pointer and poison the context with an illegal-address fault.
func (b *Backend) launch(name string, grid, block [3]int, args ...any) {
	if b.err != nil {
		return
	}
	f, found := b.fns[name]
	if !found {
		b.fail(fmt.Errorf("cuda: kernel %s not loaded", name))
		return
	}
	if len(args) > len(b.argv) {
		b.fail(fmt.Errorf("cuda: kernel %s: %d arguments, at most %d", name, len(args), len(b.argv)))
		return
	}
	for i, a := range args {
		switch v := a.(type) {
		case uint64:
			b.argv[i] = v
		case int32:
			b.argv[i] = uint64(uint32(v))
		case int:
			b.argv[i] = uint64(uint32(int32(v)))
		case int64:
			b.argv[i] = uint64(v)
		case float32:
			b.argv[i] = uint64(math.Float32bits(v))
		case float64:
			b.argv[i] = math.Float64bits(v)
		default:
			b.fail(fmt.Errorf("cuda: kernel %s: argument %d has unsupported type %T", name, i, a))
			return
		}
	}
	r := b.drv.ccall(b.drv.cuLaunchKernel, f, uintptr(grid[0]), uintptr(grid[1]), uintptr(grid[2]),
		uintptr(block[0]), uintptr(block[1]), uintptr(block[2]), 0, 0, hostPtr(unsafe.Pointer(&b.argp[0])), 0)
	if r != 0 {
		b.fail(fmt.Errorf("cuda: launching %s (grid %v, block %v): %w", name, grid, block, b.drv.check("cuLaunchKernel", r)))
	}
}

// grid1 / block1 build one-dimensional launch shapes.
func grid1(x int) [3]int  { return [3]int{x, 1, 1} }
func block1(x int) [3]int { return [3]int{x, 1, 1} }

func init() {
	kernels.Register(kernels.KindCUDA, func(ordinal int, o kernels.Options) (kernels.Backend, error) {
		b, err := Open(Options{Device: ordinal, Precision: o.Precision})
		if err != nil {
			return nil, err // a nil *Backend must not become a non-nil interface
		}
		return b, nil
	})
}
