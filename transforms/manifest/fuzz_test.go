package manifest

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkRows is the property every parse must satisfy: indices count up from 0, and each row
// has either a path or a reason it has none.
func checkRows(t *testing.T, f Format, in []byte) {
	var n int64
	err := Decode(context.Background(), strings.NewReader(string(in)), Options{Format: f, Root: "/r"}, func(r Row) error {
		if r.Index != n {
			t.Fatalf("index %d, want %d", r.Index, n)
		}
		n++
		if (r.URI == "") == (r.Err == "") {
			t.Fatalf("row %+v: exactly one of URI and Err must be set", r)
		}
		if r.Err == "" && (r.Start < 0 || r.End < 0 || r.End != 0 && r.End <= r.Start) {
			t.Fatalf("row %+v: invalid span accepted", r)
		}
		// Beam, Arrow and the failures table take only UTF-8: every emitted string must be.
		checkValid(t, r)
		if (r.TextReplaced > 0) != (r.BadText != "") {
			t.Fatalf("row %+v: TextReplaced and BadText disagree", r)
		}
		if isFileURI(r.URI) { // only a path that is not UTF-8 becomes a URI, and it decodes back
			if p, err := fileURIPath(r.URI); err != nil || utf8.ValidString(p) {
				t.Fatalf("row %+v: file URI decodes to %q, %v", r, p, err)
			}
		}
		return nil
	})
	_ = err // a fatal error is fine; a panic or a bad row is not
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`[{"video":"a.mp4","caption":"x"}]`, `[{"image":"i.png"},{"video":1}]`, `[`, `[{"start":-1,"video":"v"}]`, `[null,"x",[]]`, "[{\"video\":\"caf\xe9\",\"caption\":\"\\udce9\xff\"}]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRows(t, JSON, in) })
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{"{\"uri\":\"a\",\"start\":1,\"end\":2}\n", "{}\n\n{\"path\":\"p\",\"label\":3.5}", "{\"uri\":\"a\",\"end\":1e400}", "{\"uri\":\"\\ud800\\udc00\xe9\",\"label\":\"\\udcff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRows(t, JSONL, in) })
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a.mp4,1\nb,2\n", "uri,start,end\nx,1,0.5\n", "\"a\"b,\"\n", "path\n\n,\n", "image,label\nx.png,NaN\n", "v\xe9.mp4,na\xefve\n", "uri,caption\nfile:///a%E9,\xff\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRows(t, CSV, in) })
}

func FuzzParquet(f *testing.F) {
	good := parquetManifest(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, in []byte) { checkRows(t, Parquet, in) })
}

// FuzzUnquoteJSON: our byte-keeping JSON string decoder agrees with encoding/json on every
// UTF-8 literal without the \udc80…\udcff escapes it reads as raw bytes (surrogateescape).
func FuzzUnquoteJSON(f *testing.F) {
	for _, s := range []string{`"a\u00e9\n\"\\\/"`, `"\ud83d\ude00"`, `"\ud800x"`, `"\ud800\u0041"`, `"\udfff"`, `"\u12"`, `"x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var want string
		wantErr := json.Unmarshal(in, &want)
		got, ok := unquoteJSON(bytes.TrimSpace(in))
		if wantErr != nil || !utf8.Valid(in) || regexp.MustCompile(`(?i)\\udc[89a-f]`).Match(in) {
			return
		}
		if !ok || got != want {
			t.Fatalf("unquoteJSON(%q) = %q, %v; encoding/json gives %q", in, got, ok, want)
		}
	})
}
