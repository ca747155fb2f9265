package cpu

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/umt-dev/umt/kernels"
)

// Options configures a CPU backend.
type Options struct {
	// Threads is the number of goroutines an operation uses; 0 means runtime.GOMAXPROCS(0).
	Threads int
	// PureGo forces the pure-Go GEMM even when OpenBLAS is linked (benchmarks, cross-checks).
	PureGo bool
}

// Backend implements kernels.Backend on host memory. Create it with New.
type Backend struct {
	threads int
	widest  atomic.Int64 // see MaxParallel
	pureGo  bool
	err     error
	stats   kernels.MemStats
	scratch [][]float32 // per-worker scratch for attention
}

var _ kernels.Backend = (*Backend)(nil)

// New returns a CPU backend.
func New(o Options) *Backend {
	t := o.Threads
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	blasInit()
	return &Backend{threads: t, pureGo: o.PureGo || !haveBLAS}
}

func init() {
	kernels.Register(kernels.KindCPU, func(ordinal int, o kernels.Options) (kernels.Backend, error) {
		return New(Options{Threads: o.Threads, PureGo: o.PureGo}), nil
	})
}

// Threads is the number of goroutines operations use.
func (b *Backend) Threads() int { return b.threads }

// Name says which GEMM and how many threads, e.g. "cpu(openblas, 2 threads)".
func (b *Backend) Name() string {
	g := blasName
	if b.pureGo {
		g = "pure-go gemm"
	}
	return fmt.Sprintf("cpu(%s, %d threads)", g, b.threads)
}

// mem is one host allocation.
type mem struct {
	owner *Backend
	f     []float32
	i     []int32
	freed bool
}

func (m *mem) Len() int {
	if m.i != nil {
		return len(m.i)
	}
	return len(m.f)
}

func (m *mem) DType() kernels.DType {
	if m.i != nil {
		return kernels.I32
	}
	return kernels.F32
}

// fail records the first error; later operations are skipped until Sync.
func (b *Backend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// failf records a formatted error.
func (b *Backend) failf(format string, args ...any) { b.fail(fmt.Errorf(format, args...)) }

// ok reports whether an operation may run: no pending error and no error in its checks.
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

// Alloc returns a zeroed float32 buffer of n elements.
func (b *Backend) Alloc(n int) kernels.Buf {
	if n < 0 {
		b.failf("cpu.Alloc: negative size %d", n)
		n = 0
	}
	m := &mem{owner: b, f: make([]float32, n)}
	b.account(int64(n)*4, 1)
	return kernels.NewBuf(m)
}

// AllocIndex returns a zeroed int32 buffer of n elements.
func (b *Backend) AllocIndex(n int) kernels.Buf {
	if n < 0 {
		b.failf("cpu.AllocIndex: negative size %d", n)
		n = 0
	}
	m := &mem{owner: b, i: make([]int32, n)}
	if n == 0 {
		m.i = []int32{} // non-nil marks the int32 type
	}
	b.account(int64(n)*4, 1)
	return kernels.NewBuf(m)
}

func (b *Backend) account(bytes int64, allocs int) {
	b.stats.LiveBytes += bytes
	b.stats.LiveAllocs += allocs
	b.stats.PeakBytes = max(b.stats.PeakBytes, b.stats.LiveBytes)
}

// Free releases a buffer returned by Alloc or AllocIndex.
func (b *Backend) Free(buf kernels.Buf) {
	if m, isCPU := buf.Mem().(*mem); isCPU && m.owner == b && m.freed {
		b.failf("cpu.Free: buffer freed twice")
		return
	}
	m, err := b.mem(buf, "Free")
	if err != nil {
		b.fail(err)
		return
	}
	if buf.Off() != 0 || buf.Len() != m.Len() {
		b.failf("cpu.Free: buffer is a view (offset %d, %d of %d elements); free the buffer Alloc returned", buf.Off(), buf.Len(), m.Len())
		return
	}
	m.freed = true
	b.account(-int64(m.Len())*4, -1)
	m.f, m.i = nil, nil
	if buf.DType() == kernels.I32 {
		m.i = []int32{}
	}
}

// Stats reports live and peak allocation bytes.
func (b *Backend) Stats() kernels.MemStats { return b.stats }

// mem returns the allocation behind buf after checking that it belongs to b and is live.
func (b *Backend) mem(buf kernels.Buf, op string) (*mem, error) {
	if buf.IsZero() {
		return nil, fmt.Errorf("cpu.%s: missing buffer (zero Buf)", op)
	}
	m, isCPU := buf.Mem().(*mem)
	if !isCPU || m.owner != b {
		return nil, fmt.Errorf("cpu.%s: buffer belongs to another backend", op)
	}
	if m.freed {
		return nil, fmt.Errorf("cpu.%s: buffer used after Free", op)
	}
	return m, nil
}

// Data returns the host memory of a float32 buffer without copying (nil for a zero, foreign,
// freed or int32 buffer). Writes through it are visible to later operations.
func (b *Backend) Data(buf kernels.Buf) []float32 {
	m, err := b.mem(buf, "Data")
	if err != nil || m.i != nil {
		return nil
	}
	return m.f[buf.Off() : buf.Off()+buf.Len() : buf.Off()+buf.Len()]
}

// Index returns the host memory of an int32 buffer without copying (nil otherwise).
func (b *Backend) Index(buf kernels.Buf) []int32 {
	m, err := b.mem(buf, "Index")
	if err != nil || m.i == nil {
		return nil
	}
	return m.i[buf.Off() : buf.Off()+buf.Len() : buf.Off()+buf.Len()]
}

// f32 returns buf's data for an operation, recording an error when it is unusable.
func (b *Backend) f32(buf kernels.Buf, op string) []float32 {
	m, err := b.mem(buf, op)
	if err != nil {
		b.fail(err)
		return nil
	}
	if m.i != nil {
		b.failf("cpu.%s: buffer is int32, want float32", op)
		return nil
	}
	return m.f[buf.Off() : buf.Off()+buf.Len() : buf.Off()+buf.Len()]
}

// Upload copies src into dst.
func (b *Backend) Upload(dst kernels.Buf, src []float32) {
	if !b.ok() {
		return
	}
	d := b.f32(dst, "Upload")
	if d == nil {
		return
	}
	if len(src) != len(d) {
		b.failf("cpu.Upload: %d values into a buffer of %d", len(src), len(d))
		return
	}
	copy(d, src)
}

// UploadIndex copies src into an int32 buffer.
func (b *Backend) UploadIndex(dst kernels.Buf, src []int32) {
	if !b.ok() {
		return
	}
	m, err := b.mem(dst, "UploadIndex")
	if err != nil || m.i == nil {
		b.ok(err, fmt.Errorf("cpu.UploadIndex: destination is not an int32 buffer"))
		return
	}
	if len(src) != dst.Len() {
		b.failf("cpu.UploadIndex: %d values into a buffer of %d", len(src), dst.Len())
		return
	}
	copy(m.i[dst.Off():], src)
}

// Download copies src into dst and returns the pending error.
func (b *Backend) Download(dst []float32, src kernels.Buf) error {
	if b.err == nil {
		if s := b.f32(src, "Download"); s != nil {
			if len(s) != len(dst) {
				b.failf("cpu.Download: buffer of %d values into a slice of %d", len(s), len(dst))
			} else {
				copy(dst, s)
			}
		}
	}
	return b.Sync()
}

// Sync returns and clears the first error recorded since the previous Sync. CPU operations are
// synchronous, so there is nothing to wait for.
func (b *Backend) Sync() error {
	err := b.err
	b.err = nil
	return err
}
