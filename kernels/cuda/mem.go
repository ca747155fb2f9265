package cuda

import (
	"fmt"
	"unsafe"

	"github.com/umt-dev/umt/kernels"
)

// mem is one device allocation, a block of the pool.
type mem struct {
	owner *Backend
	ptr   uint64 // device address
	class uint64 // pool size class of the block
	n     int
	dt    kernels.DType
	freed bool
}

func (m *mem) Len() int             { return m.n }
func (m *mem) DType() kernels.DType { return m.dt }

func (b *Backend) alloc(n int, dt kernels.DType, op string) kernels.Buf {
	if n < 0 {
		b.fail(fmt.Errorf("cuda.%s: negative size %d", op, n))
		n = 0
	}
	m := &mem{owner: b, n: n, dt: dt}
	ptr, class, err := b.pool.get(uint64(n) * 4)
	if err != nil {
		b.fail(fmt.Errorf("cuda.%s(%d): %w", op, n, err))
		m.freed = true // unusable: every later use reports it
		return kernels.NewBuf(m)
	}
	m.ptr, m.class = ptr, class
	if n > 0 {
		// Zeroed like kernels/cpu's buffers; async on the default stream, ordered before use.
		b.fail(b.drv.check("cuMemsetD32", b.drv.ccall(b.drv.cuMemsetD32, uintptr(ptr), 0, uintptr(n))))
	}
	b.stats.LiveBytes += int64(n) * 4
	b.stats.LiveAllocs++
	b.stats.PeakBytes = max(b.stats.PeakBytes, b.stats.LiveBytes)
	return kernels.NewBuf(m)
}

// Alloc returns a zeroed float32 device buffer of n elements.
func (b *Backend) Alloc(n int) kernels.Buf { return b.alloc(n, kernels.F32, "Alloc") }

// AllocIndex returns a zeroed int32 device buffer of n elements.
func (b *Backend) AllocIndex(n int) kernels.Buf { return b.alloc(n, kernels.I32, "AllocIndex") }

// Free returns a buffer's block to the pool. Work already issued on it is ordered before any
// later use of the block (one stream), so no synchronisation is needed.
func (b *Backend) Free(buf kernels.Buf) {
	m, err := b.mem(buf, "Free")
	if err != nil {
		b.fail(err)
		return
	}
	if buf.Off() != 0 || buf.Len() != m.n {
		b.fail(fmt.Errorf("cuda.Free: buffer is a view (offset %d, %d of %d elements); free the buffer Alloc returned", buf.Off(), buf.Len(), m.n))
		return
	}
	m.freed = true
	b.pool.put(m.ptr, m.class)
	b.stats.LiveBytes -= int64(m.n) * 4
	b.stats.LiveAllocs--
}

// Stats reports live and peak bytes held by the caller (pool caching not included).
func (b *Backend) Stats() kernels.MemStats { return b.stats }

// PoolStats reports the bytes the pool holds from the driver and how many of them are cached.
func (b *Backend) PoolStats() (reserved, cached uint64) { return b.pool.reserved, b.pool.inCache }

// ReleaseCache returns the pool's cached blocks to the driver.
func (b *Backend) ReleaseCache() error {
	if err := b.drv.check("cuCtxSynchronize", b.drv.ccall(b.drv.cuCtxSynchronize)); err != nil {
		return err
	}
	return b.pool.release()
}

// mem returns buf's allocation after checking that it belongs to b and is live.
func (b *Backend) mem(buf kernels.Buf, op string) (*mem, error) {
	if buf.IsZero() {
		return nil, fmt.Errorf("cuda.%s: missing buffer (zero Buf)", op)
	}
	m, isCUDA := buf.Mem().(*mem)
	if !isCUDA || m.owner != b {
		return nil, fmt.Errorf("cuda.%s: buffer belongs to another backend; allocate it with this backend's Alloc", op)
	}
	if m.freed {
		return nil, fmt.Errorf("cuda.%s: buffer used after Free", op)
	}
	return m, nil
}

// dptr is the device address of a view (0 for the zero Buf), recording misuse.
func (b *Backend) dptr(buf kernels.Buf, op string) uint64 {
	if buf.IsZero() {
		return 0
	}
	m, err := b.mem(buf, op)
	if err != nil {
		b.fail(err)
		return 0
	}
	return m.ptr + uint64(buf.Off())*4
}

// temp takes scratch memory of n 8-byte words from the pool; give it back with done once the
// kernels using it are issued (the stream orders every later reuse after them).
func (b *Backend) temp(words int) (ptr uint64, done func()) {
	p, class, err := b.pool.get(uint64(max(words, 1)) * 8)
	if err != nil {
		b.fail(err)
		return 0, func() {}
	}
	return p, func() { b.pool.put(p, class) }
}

// present checks that buf is a buffer (possibly empty) of type dt.
func present(op, name string, buf kernels.Buf, dt kernels.DType) error {
	if buf.IsZero() {
		return fmt.Errorf("kernels.%s: operand %s is missing (zero Buf)", op, name)
	}
	if buf.DType() != dt {
		return fmt.Errorf("kernels.%s: operand %s is %s, want %s", op, name, buf.DType(), dt)
	}
	return nil
}

// Upload copies src into dst (synchronous).
func (b *Backend) Upload(dst kernels.Buf, src []float32) {
	if !b.ok(present("Upload", "dst", dst, kernels.F32)) {
		return
	}
	if len(src) != dst.Len() {
		b.fail(fmt.Errorf("cuda.Upload: %d values into a buffer of %d", len(src), dst.Len()))
		return
	}
	p := b.dptr(dst, "Upload")
	if p == 0 || len(src) == 0 {
		return
	}
	b.fail(b.drv.check("cuMemcpyHtoD", b.drv.ccall(b.drv.cuMemcpyHtoD, uintptr(p), hostPtr(unsafe.Pointer(&src[0])), uintptr(len(src)*4))))
}

// UploadIndex copies src into an int32 buffer (synchronous).
func (b *Backend) UploadIndex(dst kernels.Buf, src []int32) {
	if !b.ok(present("UploadIndex", "dst", dst, kernels.I32)) {
		return
	}
	if len(src) != dst.Len() {
		b.fail(fmt.Errorf("cuda.UploadIndex: %d values into a buffer of %d", len(src), dst.Len()))
		return
	}
	p := b.dptr(dst, "UploadIndex")
	if p == 0 || len(src) == 0 {
		return
	}
	b.fail(b.drv.check("cuMemcpyHtoD", b.drv.ccall(b.drv.cuMemcpyHtoD, uintptr(p), hostPtr(unsafe.Pointer(&src[0])), uintptr(len(src)*4))))
}

// Download waits for the issued work, copies src into dst and returns the pending error.
func (b *Backend) Download(dst []float32, src kernels.Buf) error {
	if b.ok(present("Download", "src", src, kernels.F32)) {
		if len(dst) != src.Len() {
			b.fail(fmt.Errorf("cuda.Download: buffer of %d values into a slice of %d", src.Len(), len(dst)))
		} else if p := b.dptr(src, "Download"); p != 0 && len(dst) > 0 {
			b.fail(b.drv.check("cuMemcpyDtoH", b.drv.ccall(b.drv.cuMemcpyDtoH, hostPtr(unsafe.Pointer(&dst[0])), uintptr(p), uintptr(len(dst)*4))))
		}
	}
	return b.Sync()
}

// Sync waits for all issued work and returns (and clears) the first error since the last
// Sync: argument errors, launch errors, asynchronous kernel faults, bad gather/scatter indices.
func (b *Backend) Sync() error {
	b.fail(b.drv.check("cuCtxSynchronize", b.drv.ccall(b.drv.cuCtxSynchronize)))
	if b.flagDirty {
		b.flagDirty = false
		flag := new(int32)
		b.fail(b.drv.check("cuMemcpyDtoH", b.drv.ccall(b.drv.cuMemcpyDtoH, hostPtr(unsafe.Pointer(flag)), uintptr(b.errFlag), 4)))
		if *flag != 0 {
			b.fail(fmt.Errorf("cuda: GatherRows/ScatterRows/ScatterAddRows got an index (position %d of its index buffer) outside the rows of its table; check the indices", *flag-1))
			b.drv.ccall(b.drv.cuMemsetD32, uintptr(b.errFlag), 0, 1)
		}
	}
	err := b.err
	b.err = nil
	return err
}
