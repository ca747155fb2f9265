package kernels

import "fmt"

// DType is the element type of an allocation.
type DType uint8

const (
	F32 DType = iota // float32: every tensor
	I32              // int32: row indices for GatherRows / ScatterRows
)

func (d DType) String() string {
	switch d {
	case F32:
		return "float32"
	case I32:
		return "int32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Mem is one allocation owned by a backend (host memory for cpu, device memory for cuda). Model
// code never looks inside; backends type-assert it to their own type.
type Mem interface {
	// Len is the allocation's size in elements.
	Len() int
	// DType is the element type.
	DType() DType
}

// Buf is a view of elements [off, off+n) of one allocation. The zero Buf is "no buffer"; optional
// operands take it to mean "not wanted". Buf is a small value: pass and store it by value.
type Buf struct {
	mem Mem
	off int
	n   int
}

// NewBuf is for backends: it wraps an allocation as a Buf covering all of it.
func NewBuf(m Mem) Buf { return Buf{mem: m, off: 0, n: m.Len()} }

// Mem is the allocation the view belongs to (nil for the zero Buf).
func (b Buf) Mem() Mem { return b.mem }

// Off is the view's first element within its allocation.
func (b Buf) Off() int { return b.off }

// Len is the view's length in elements.
func (b Buf) Len() int { return b.n }

// IsZero reports whether b is the zero Buf ("no buffer").
func (b Buf) IsZero() bool { return b.mem == nil }

// DType is the element type of the underlying allocation (F32 for the zero Buf).
func (b Buf) DType() DType {
	if b.mem == nil {
		return F32
	}
	return b.mem.DType()
}

// View returns elements [off, off+n) of b. Like a slice expression, it panics when the range does
// not lie within b.
func (b Buf) View(off, n int) Buf {
	if b.mem == nil || off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("kernels: View(%d, %d) out of range of a buffer of %d elements", off, n, b.n))
	}
	return Buf{mem: b.mem, off: b.off + off, n: n}
}

// Rows returns rows [r0, r0+nr) of b seen as a row-major matrix with row length dim.
func (b Buf) Rows(r0, nr, dim int) Buf { return b.View(r0*dim, nr*dim) }

// MemStats is a backend's accounting of its live allocations.
type MemStats struct {
	LiveBytes  int64 // bytes allocated and not yet freed
	PeakBytes  int64 // maximum of LiveBytes since the backend was created
	LiveAllocs int   // allocations not yet freed
}
