package index

/*
#cgo CXXFLAGS: -O2 -std=c++17
#cgo LDFLAGS: -lfaiss -lopenblas -lgomp -lstdc++ -lm
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Faiss is one FAISS index (libfaiss, linked statically). Not safe for concurrent writes.
type Faiss struct{ p unsafe.Pointer }

const errLen = 512

func call(what string, f func(err *C.char) C.int) error {
	buf := (*C.char)(C.malloc(errLen))
	defer C.free(unsafe.Pointer(buf))
	if f(buf) != 0 {
		return fmt.Errorf("faiss %s: %s", what, C.GoString(buf))
	}
	return nil
}

// NewFaiss builds an empty index from a FAISS index_factory string (e.g. "IDMap,HNSW32",
// "IDMap,Flat") over d-dimensional vectors, inner-product or L2.
func NewFaiss(d int, factory string, innerProduct bool) (*Faiss, error) {
	cs := C.CString(factory)
	defer C.free(unsafe.Pointer(cs))
	ip := C.int(0)
	if innerProduct {
		ip = 1
	}
	var p unsafe.Pointer
	if err := call("index_factory("+factory+")", func(e *C.char) C.int { return C.umt_faiss_new(C.int(d), cs, ip, &p, e, errLen) }); err != nil {
		return nil, err
	}
	return wrap(p), nil
}

// ReadFaiss reads an index written by Write (or by faiss.write_index).
func ReadFaiss(path string) (*Faiss, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var p unsafe.Pointer
	if err := call("read_index", func(e *C.char) C.int { return C.umt_faiss_read(cs, &p, e, errLen) }); err != nil {
		return nil, err
	}
	return wrap(p), nil
}

func wrap(p unsafe.Pointer) *Faiss {
	f := &Faiss{p: p}
	runtime.SetFinalizer(f, (*Faiss).Close)
	return f
}

// Close frees the index.
func (f *Faiss) Close() {
	if f.p != nil {
		C.umt_faiss_free(f.p)
		f.p = nil
	}
}

// Dim is the vectors' dimension; Len the number of vectors added; Trained whether Add may run.
func (f *Faiss) Dim() int      { return int(C.umt_faiss_dim(f.p)) }
func (f *Faiss) Len() int64    { return int64(C.umt_faiss_ntotal(f.p)) }
func (f *Faiss) Trained() bool { return C.umt_faiss_trained(f.p) != 0 }

func (f *Faiss) rows(x []float32) (C.int64_t, error) {
	d := f.Dim()
	if len(x) == 0 || len(x)%d != 0 {
		return 0, fmt.Errorf("faiss: %d values are not whole vectors of %d", len(x), d)
	}
	return C.int64_t(len(x) / d), nil
}

// Train trains the index (IVF, PQ) on x, n×d row-major.
func (f *Faiss) Train(x []float32) error {
	n, err := f.rows(x)
	if err != nil {
		return err
	}
	return call("train", func(e *C.char) C.int { return C.umt_faiss_train(f.p, n, (*C.float)(&x[0]), e, errLen) })
}

// Add adds x, n×d row-major, under ids (search returns these).
func (f *Faiss) Add(x []float32, ids []int64) error {
	n, err := f.rows(x)
	if err != nil {
		return err
	}
	if int64(n) != int64(len(ids)) {
		return fmt.Errorf("faiss: %d vectors but %d ids", n, len(ids))
	}
	return call("add_with_ids", func(e *C.char) C.int {
		return C.umt_faiss_add(f.p, n, (*C.float)(&x[0]), (*C.int64_t)(unsafe.Pointer(&ids[0])), e, errLen)
	})
}

// Search returns the k nearest ids of each query (n×d) and their scores, n×k each; -1 where
// fewer than k were found.
func (f *Faiss) Search(q []float32, k int) ([]int64, []float32, error) {
	n, err := f.rows(q)
	if err != nil {
		return nil, nil, err
	}
	if k <= 0 {
		return nil, nil, errors.New("faiss: k must be positive")
	}
	ids, dist := make([]int64, int(n)*k), make([]float32, int(n)*k)
	err = call("search", func(e *C.char) C.int {
		return C.umt_faiss_search(f.p, n, (*C.float)(&q[0]), C.int64_t(k), (*C.float)(&dist[0]), (*C.int64_t)(unsafe.Pointer(&ids[0])), e, errLen)
	})
	return ids, dist, err
}

// Set sets a search parameter FAISS's ParameterSpace knows ("efSearch", "nprobe").
func (f *Faiss) Set(name string, v float64) error {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return call("set "+name, func(e *C.char) C.int { return C.umt_faiss_set(f.p, cs, C.double(v), e, errLen) })
}

// SetEfConstruction sets the build breadth of an HNSW index (before Add).
func (f *Faiss) SetEfConstruction(v int) error {
	if C.umt_faiss_hnsw_ef_construction(f.p, C.int(v)) == 0 {
		return errors.New("faiss: efConstruction is a parameter of HNSW indexes only")
	}
	return nil
}

// EfConstruction is an HNSW index's build breadth, 0 for other indexes.
func (f *Faiss) EfConstruction() int { return int(C.umt_faiss_hnsw_ef_construction(f.p, 0)) }

// Write writes the index with FAISS's own writer (faiss.read_index opens it).
func (f *Faiss) Write(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	return call("write_index", func(e *C.char) C.int { return C.umt_faiss_write(f.p, cs, e, errLen) })
}
