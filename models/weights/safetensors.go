package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/x448/float16"

	"github.com/umt-dev/umt/internal/mmap"
)

// dtypeSize is the element size of every safetensors dtype this package understands.
var dtypeSize = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
	"U16": 2, "U32": 4, "U64": 8,
}

// maxHeader bounds the JSON header (the format's own reference limit is 100 MB).
const maxHeader = 100 << 20

// Tensor is one entry of a safetensors file. Data aliases the file's memory.
type Tensor struct {
	Name  string
	DType string // "F32", "F16", "BF16", "I64", "U8", ...
	Shape []int
	Data  []byte // little-endian, C order
}

// NumElems is the product of the shape (1 for a scalar).
func (t *Tensor) NumElems() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 converts an F32, F16, BF16 or F64 tensor to a new []float32.
func (t *Tensor) Float32() ([]float32, error) {
	n := t.NumElems()
	if size, ok := dtypeSize[t.DType]; ok && len(t.Data) != n*size {
		return nil, fmt.Errorf("tensor %s: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
	}
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(d[2*i:])).Float32()
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %s is %s, want a float type (F32, F16, BF16, F64)", t.Name, t.DType)
	}
	return out, nil
}

// Uint8 returns the bytes of a U8 tensor (aliasing the file).
func (t *Tensor) Uint8() ([]byte, error) {
	if t.DType != "U8" {
		return nil, fmt.Errorf("tensor %s is %s, want U8", t.Name, t.DType)
	}
	return t.Data, nil
}

// Int64 converts an I64 tensor.
func (t *Tensor) Int64() ([]int64, error) {
	if t.DType != "I64" {
		return nil, fmt.Errorf("tensor %s is %s, want I64", t.Name, t.DType)
	}
	if len(t.Data) != 8*t.NumElems() {
		return nil, fmt.Errorf("tensor %s: %d bytes for shape %v of I64", t.Name, len(t.Data), t.Shape)
	}
	out := make([]int64, t.NumElems())
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// File is a parsed safetensors file.
type File struct {
	Tensors  map[string]*Tensor
	Metadata map[string]string
	order    []string // names by data offset
	release  func() error
}

// Names returns the tensor names in file order (by data offset).
func (f *File) Names() []string { return append([]string(nil), f.order...) }

// Get returns the named tensor or nil.
func (f *File) Get(name string) *Tensor { return f.Tensors[name] }

// Close releases the file's memory; tensors' Data must not be used afterwards.
func (f *File) Close() error {
	if f.release == nil {
		return nil
	}
	r := f.release
	f.release = nil
	return r()
}

// Open maps and parses a safetensors file.
func Open(path string) (*File, error) {
	data, release, err := mmap.File(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		_ = release()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.release = release
	return f, nil
}

type headerEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// Parse parses safetensors bytes; tensors alias data.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("not a safetensors file: %d bytes, shorter than the 8-byte header length", len(data))
	}
	hl := binary.LittleEndian.Uint64(data)
	if hl > maxHeader || hl > uint64(len(data)-8) {
		return nil, fmt.Errorf("not a safetensors file (or truncated): header length %d, file has %d bytes after it", hl, len(data)-8)
	}
	hdr := data[8 : 8+hl]
	body := data[8+hl:]
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("safetensors header is not a JSON object: %v", err)
	}
	f := &File{Tensors: map[string]*Tensor{}, Metadata: map[string]string{}}
	type span struct {
		lo, hi int64
		name   string
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors __metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e headerEntry
		d := json.NewDecoder(bytes.NewReader(msg))
		d.DisallowUnknownFields()
		if err := d.Decode(&e); err != nil {
			return nil, fmt.Errorf("tensor %q: bad header entry: %v", name, err)
		}
		size, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", name, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("tensor %q: data_offsets must have 2 entries, has %d", name, len(e.DataOffsets))
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo || hi > int64(len(body)) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d data bytes (file truncated?)", name, lo, hi, len(body))
		}
		n := int64(1)
		shape := make([]int, len(e.Shape))
		for i, s := range e.Shape {
			if s < 0 || s > math.MaxInt32 {
				return nil, fmt.Errorf("tensor %q: bad dimension %d in shape %v", name, s, e.Shape)
			}
			shape[i] = int(s)
			if n != 0 && s > math.MaxInt64/int64(size)/n {
				return nil, fmt.Errorf("tensor %q: shape %v overflows", name, e.Shape)
			}
			n *= s
		}
		if n*int64(size) != hi-lo {
			return nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, data_offsets give %d", name, e.Shape, e.DType, n*int64(size), hi-lo)
		}
		f.Tensors[name] = &Tensor{Name: name, DType: e.DType, Shape: shape, Data: body[lo:hi:hi]}
		spans = append(spans, span{lo, hi, name})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].lo != spans[j].lo {
			return spans[i].lo < spans[j].lo
		}
		return spans[i].name < spans[j].name
	})
	for i, s := range spans {
		if i > 0 && s.lo < spans[i-1].hi {
			return nil, fmt.Errorf("tensors %q and %q overlap in the data section", spans[i-1].name, s.name)
		}
		f.order = append(f.order, s.name)
	}
	return f, nil
}

// Marshal is the safetensors encoding of tensors (in the given order) and metadata; write it
// with transforms/storage.WriteFile, which replaces a file atomically.
func Marshal(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, metadata); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Encode writes the safetensors encoding of tensors and metadata to buf. The header is padded
// with spaces to a multiple of 8, as the format recommends.
func Encode(buf *bytes.Buffer, tensors []Tensor, metadata map[string]string) error {
	var hdr strings.Builder
	hdr.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata)
		if err != nil {
			return err
		}
		comma()
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(m)
	}
	off := 0
	seen := map[string]bool{}
	for _, t := range tensors {
		size, ok := dtypeSize[t.DType]
		if !ok {
			return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if seen[t.Name] || t.Name == "__metadata__" {
			return fmt.Errorf("tensor name %q repeated or reserved", t.Name)
		}
		seen[t.Name] = true
		if t.NumElems()*size != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, has %d", t.Name, t.Shape, t.DType, t.NumElems()*size, len(t.Data))
		}
		name, _ := json.Marshal(t.Name)
		shape, _ := json.Marshal(append([]int{}, t.Shape...))
		comma()
		fmt.Fprintf(&hdr, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, t.DType, shape, off, off+len(t.Data))
		off += len(t.Data)
	}
	hdr.WriteByte('}')
	h := hdr.String()
	if pad := (8 - len(h)%8) % 8; pad > 0 {
		h += strings.Repeat(" ", pad)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h)))
	buf.Write(n[:])
	buf.WriteString(h)
	for _, t := range tensors {
		buf.Write(t.Data)
	}
	return nil
}

// F32Tensor makes an F32 tensor from values (little-endian encoding).
func F32Tensor(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: "F32", Shape: shape, Data: b}
}

// F16Tensor makes an F16 tensor (round to nearest even).
func F16Tensor(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], float16.Fromfloat32(x).Bits())
	}
	return Tensor{Name: name, DType: "F16", Shape: shape, Data: b}
}

// BF16Tensor makes a BF16 tensor (round to nearest even).
func BF16Tensor(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		if x == x { // round to nearest even; NaN keeps its top bits
			u += 0x7fff + (u>>16)&1
		}
		binary.LittleEndian.PutUint16(b[2*i:], uint16(u>>16))
	}
	return Tensor{Name: name, DType: "BF16", Shape: shape, Data: b}
}
