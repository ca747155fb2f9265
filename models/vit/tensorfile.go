package vit

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/nlpodyssey/safetensors"
)

// Tensor is a host tensor read from or written to a safetensors file. Exactly one of F32, I64
// or U8 is set.
type Tensor struct {
	Shape []int
	F32   []float32
	I64   []int64
	U8    []uint8
}

// Len is the number of elements its shape holds.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ReadSafetensors reads every tensor of a safetensors file (F32, I64 and U8 are supported) and
// the header metadata.
func ReadSafetensors(path string) (map[string]Tensor, map[string]string, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return ParseSafetensors(path, buf)
}

// ParseSafetensors decodes safetensors bytes; name is used in error messages. Malformed input is
// an error, never a panic.
func ParseSafetensors(path string, buf []byte) (out map[string]Tensor, meta map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil { // the decoder trusts header offsets in places
			out, meta, err = nil, nil, fmt.Errorf("vit: %s is not a valid safetensors file: %v", path, r)
		}
	}()
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, nil, fmt.Errorf("vit: %s is not a valid safetensors file: %w", path, err)
	}
	_, md, err := safetensors.ReadMetadata(buf)
	if err != nil {
		return nil, nil, fmt.Errorf("vit: %s: %w", path, err)
	}
	out = map[string]Tensor{}
	for _, nt := range st.Tensors() {
		tv := nt.TensorView
		t := Tensor{}
		for _, d := range tv.Shape() {
			t.Shape = append(t.Shape, int(d))
		}
		b := tv.Data()
		switch tv.DType() {
		case safetensors.F32:
			t.F32 = make([]float32, len(b)/4)
			for i := range t.F32 {
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case safetensors.I64:
			t.I64 = make([]int64, len(b)/8)
			for i := range t.I64 {
				t.I64[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
			}
		case safetensors.U8:
			t.U8 = append([]uint8(nil), b...)
		default:
			return nil, nil, fmt.Errorf("vit: %s: tensor %q has dtype %v; only F32, I64 and U8 are read", path, nt.Name, tv.DType())
		}
		out[nt.Name] = t
	}
	return out, md.Metadata(), nil
}

// WriteSafetensors writes tensors and metadata atomically: to a temporary file in the same
// directory, synced, then renamed over path, so a crash never leaves a half-written file.
func WriteSafetensors(path string, tensors map[string]Tensor, meta map[string]string) error {
	views := map[string]safetensors.TensorView{}
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := tensors[n]
		var dt safetensors.DType
		var b []byte
		switch {
		case t.F32 != nil:
			dt, b = safetensors.F32, make([]byte, 4*len(t.F32))
			for i, v := range t.F32 {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case t.I64 != nil:
			dt, b = safetensors.I64, make([]byte, 8*len(t.I64))
			for i, v := range t.I64 {
				binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
			}
		default:
			dt, b = safetensors.U8, append([]byte(nil), t.U8...)
		}
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		tv, err := safetensors.NewTensorView(dt, shape, b)
		if err != nil {
			return fmt.Errorf("vit: tensor %q: %w", n, err)
		}
		views[n] = tv
	}
	return AtomicWrite(path, func(f *os.File) error { return safetensors.SerializeToWriter(views, meta, f) })
}

// AtomicWrite creates path through a synced temporary file in the same directory and a rename.
func AtomicWrite(path string, write func(f *os.File) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
