package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

func encode(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripAndConversions(t *testing.T) {
	vals := []float32{0, 1, -2.5, 3.140625, 65504, 1e-3, -0.0001}
	ts := []Tensor{
		F32Tensor("a.f32", []int{7}, vals),
		F16Tensor("b.f16", []int{7, 1}, vals),
		BF16Tensor("c.bf16", []int{1, 7}, vals),
		{Name: "d.u8", DType: "U8", Shape: []int{2, 2}, Data: []byte{1, 2, 3, 4}},
		{Name: "scalar", DType: "I64", Shape: []int{}, Data: []byte{5, 0, 0, 0, 0, 0, 0, 0}},
	}
	data := encode(t, ts, map[string]string{"format": "pt"})
	if hl := binary.LittleEndian.Uint64(data); hl%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hl)
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.Names(), ","); got != "a.f32,b.f16,c.bf16,d.u8,scalar" {
		t.Errorf("names in file order: %s", got)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	// Per dtype: the largest relative error of one rounding (half an ulp of its mantissa).
	for name, rel := range map[string]float64{"a.f32": 0, "b.f16": 0x1p-11, "c.bf16": 0x1p-8} {
		got, err := f.Get(name).Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if d := math.Abs(float64(got[i] - v)); d > rel*math.Abs(float64(v))+6e-8 {
				t.Errorf("%s[%d] = %g, want %g within %g relative", name, i, got[i], v, rel)
			}
		}
	}
	if u, err := f.Get("d.u8").Uint8(); err != nil || !bytes.Equal(u, []byte{1, 2, 3, 4}) {
		t.Errorf("u8: %v %v", u, err)
	}
	if s, err := f.Get("scalar").Int64(); err != nil || len(s) != 1 || s[0] != 5 {
		t.Errorf("scalar: %v %v", s, err)
	}
	if _, err := f.Get("d.u8").Float32(); err == nil {
		t.Error("U8 converted to float32 without an error")
	}
}

// TestParseRefdata parses every reference file and checks a known tensor's shape.
func TestParseRefdata(t *testing.T) {
	dir := testenv.RefData(t)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(paths) == 0 {
		t.Fatal("no safetensors files in the reference set")
	}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, n := range f.Names() {
			if f.Get(n).NumElems() < 0 {
				t.Errorf("%s: %s", p, n)
			}
		}
		f.Close()
	}
}

func TestParseErrors(t *testing.T) {
	good := encode(t, []Tensor{F32Tensor("w", []int{2, 3}, make([]float32, 6))}, nil)
	withHeader := func(h string) []byte {
		b := make([]byte, 8, 8+len(h)+24)
		binary.LittleEndian.PutUint64(b, uint64(len(h)))
		return append(append(b, h...), make([]byte, 24)...)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 8-byte"},
		{"huge header", append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, good[8:]...), "header length"},
		{"truncated", good[:len(good)-4], "outside the"},
		{"not json", withHeader("nope"), "not a JSON object"},
		{"bad dtype", withHeader(`{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}`), `unknown dtype "Q7"`},
		{"shape mismatch", withHeader(`{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`), "needs 16 bytes"},
		{"negative dim", withHeader(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`), "bad dimension"},
		{"offsets", withHeader(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`), "2 entries"},
		{"overlap", withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`), "overlap"},
		{"bad metadata", withHeader(`{"__metadata__":{"a":1}}`), "__metadata__"},
		{"unknown field", withHeader(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`), "bad header entry"},
		{"overflow", withHeader(`{"w":{"dtype":"F64","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}`), "overflows"},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.safetensors")); err == nil {
		t.Error("opening a missing file: no error")
	}
}

func TestEncodeErrors(t *testing.T) {
	var buf bytes.Buffer
	for _, ts := range [][]Tensor{
		{{Name: "x", DType: "F32", Shape: []int{3}, Data: make([]byte, 8)}},
		{F32Tensor("x", []int{1}, []float32{1}), F32Tensor("x", []int{1}, []float32{1})},
		{{Name: "x", DType: "Q", Shape: []int{1}, Data: make([]byte, 1)}},
	} {
		if err := Encode(&buf, ts, nil); err == nil {
			t.Errorf("Encode(%v): no error", ts[0].Name)
		}
	}
}

// FuzzParse: no input makes Parse panic, and whatever parses re-encodes to an equivalent file.
func FuzzParse(f *testing.F) {
	f.Add(encode(f, []Tensor{F32Tensor("w", []int{2, 3}, make([]float32, 6)), F16Tensor("h", []int{1}, []float32{1})}, map[string]string{"k": "v"}))
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":1}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		var ts []Tensor
		for _, n := range p.Names() {
			ts = append(ts, *p.Get(n))
			if _, err := p.Get(n).Float32(); err != nil && strings.HasPrefix(p.Get(n).DType, "F") {
				t.Fatalf("float tensor %s does not convert: %v", n, err)
			}
		}
		var buf bytes.Buffer
		if err := Encode(&buf, ts, p.Metadata); err != nil {
			t.Fatalf("re-encoding a parsed file: %v", err)
		}
		q, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		for _, n := range p.Names() {
			if !bytes.Equal(p.Get(n).Data, q.Get(n).Data) {
				t.Fatalf("tensor %s changed in the round trip", n)
			}
		}
	})
}
