// Package weightstest reads and writes safetensors files as host slices for tests, through
// models/weights (the one codec).
package weightstest

import (
	"fmt"
	"os"
	"sort"

	"github.com/umt-dev/umt/models/weights"
)

// Tensor is a tensor decoded to host memory: F32 for float dtypes (F32, F16, BF16, F64), I64
// for I64, U8 for U8; exactly one is set.
type Tensor struct {
	Shape []int
	F32   []float32
	I64   []int64
	U8    []uint8
}

// Read decodes every tensor of a safetensors file.
func Read(path string) (map[string]Tensor, error) {
	f, err := weights.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]Tensor{}
	for name, t := range f.Tensors {
		h := Tensor{Shape: append([]int(nil), t.Shape...)}
		switch t.DType {
		case "I64":
			h.I64, err = t.Int64()
		case "U8":
			var b []byte
			b, err = t.Uint8()
			h.U8 = append([]uint8(nil), b...) // the file's memory goes with Close
		default:
			h.F32, err = t.Float32()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[name] = h
	}
	return out, nil
}

// Tensors encodes host tensors as weights tensors, sorted by name.
func Tensors(m map[string]Tensor) []weights.Tensor {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []weights.Tensor
	for _, n := range names {
		t := m[n]
		switch {
		case t.F32 != nil:
			out = append(out, weights.F32Tensor(n, t.Shape, t.F32))
		case t.I64 != nil:
			b := make([]byte, 8*len(t.I64))
			for i, v := range t.I64 {
				for j := range 8 {
					b[8*i+j] = byte(uint64(v) >> (8 * j))
				}
			}
			out = append(out, weights.Tensor{Name: n, DType: "I64", Shape: t.Shape, Data: b})
		default:
			out = append(out, weights.Tensor{Name: n, DType: "U8", Shape: t.Shape, Data: append([]byte{}, t.U8...)})
		}
	}
	return out
}

// Map returns the tensors keyed by name, as weights.File.Tensors holds them.
func Map(m map[string]Tensor) map[string]*weights.Tensor {
	out := map[string]*weights.Tensor{}
	for _, t := range Tensors(m) {
		out[t.Name] = &t
	}
	return out
}

// Write encodes host tensors and metadata into a safetensors file (tests: plain os.WriteFile).
func Write(path string, m map[string]Tensor, meta map[string]string) error {
	b, err := weights.Marshal(Tensors(m), meta)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
