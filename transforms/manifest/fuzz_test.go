package manifest

import (
	"context"
	"strings"
	"testing"
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
		return nil
	})
	_ = err // a fatal error is fine; a panic or a bad row is not
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{`[{"video":"a.mp4","caption":"x"}]`, `[{"image":"i.png"},{"video":1}]`, `[`, `[{"start":-1,"video":"v"}]`, `[null,"x",[]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRows(t, JSON, in) })
}

func FuzzJSONL(f *testing.F) {
	for _, s := range []string{"{\"uri\":\"a\",\"start\":1,\"end\":2}\n", "{}\n\n{\"path\":\"p\",\"label\":3.5}", "{\"uri\":\"a\",\"end\":1e400}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkRows(t, JSONL, in) })
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{"a.mp4,1\nb,2\n", "uri,start,end\nx,1,0.5\n", "\"a\"b,\"\n", "path\n\n,\n", "image,label\nx.png,NaN\n"} {
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
