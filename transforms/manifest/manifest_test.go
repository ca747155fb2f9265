package manifest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func decodeString(t *testing.T, f Format, root, s string) []Row {
	t.Helper()
	var rows []Row
	err := Decode(context.Background(), strings.NewReader(s), Options{Format: f, Root: root}, func(r Row) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Decode(%s): %v", f, err)
	}
	return rows
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   []Row
	}{
		{"umt json list", JSON, `[{"video": "a/x.mp4", "caption": "a cat"}, {"image": "i.jpg", "caption": "a dog"}]`, []Row{
			{Index: 0, URI: "/r/a/x.mp4", Caption: "a cat"},
			{Index: 1, URI: "/r/i.jpg", Caption: "a dog", Image: true},
		}},
		{"json numeric label and span", JSON, `[{"video":"v.mp4","label":7,"start":1.5,"end":3}]`, []Row{
			{Index: 0, URI: "/r/v.mp4", Label: "7", Start: 1.5, End: 3},
		}},
		{"json bad elements stay rows", JSON, `[1, {"caption":"no path"}, {"video":"v.mp4","caption":["a",2]}, {"video":"w.mp4"}]`, []Row{
			{Index: 0, Err: "entry 0: not a JSON object: json: cannot unmarshal number into Go value of type map[string]json.RawMessage"},
			{Index: 1, Caption: "no path", Err: "entry 1: no video path (give uri, path, video or image)"},
			{Index: 2, Err: `entry 2: caption must be a string or a list of strings (all the captions of one clip): item 1: got 2`},
			{Index: 3, URI: "/r/w.mp4"},
		}},
		{"caption lists are one clip's captions", JSON, `[{"video":"v.mp4","caption":["a man cooks","","someone is cooking"]}, {"video":"w.mp4","caption":[]}, {"video":"x.mp4","caption":["one"]}]`, []Row{
			{Index: 0, URI: "/r/v.mp4", Caption: "a man cooks", ExtraCaptions: []string{"someone is cooking"}},
			{Index: 1, URI: "/r/w.mp4"},
			{Index: 2, URI: "/r/x.mp4", Caption: "one"},
		}},
		{"jsonl", JSONL, "{\"uri\":\"gs://b/v.mp4\",\"caption\":\"c\",\"label\":\"run\",\"start\":0,\"end\":2}\n\n{\"path\":\"rel.webm\",\"end\":null}\r\n{\"uri\":\"x.mp4\",\"start\":3,\"end\":1}\nnot json\n", []Row{
			{Index: 0, URI: "gs://b/v.mp4", Caption: "c", Label: "run", End: 2},
			{Index: 1, URI: "/r/rel.webm"},
			{Index: 2, Start: 3, End: 1, Err: `line 4: end 1 is not after start 3; use end 0 (or leave it out) for "to the end"`},
			{Index: 3, Err: "line 5: not a JSON object: invalid character 'o' in literal null (expecting 'u')"},
		}},
		{"kinetics csv", CSV, "abseiling/abc_000001_000011.mp4,0\nnoext,3\n\"with,comma.mp4\",5\n/abs/v.mkv\na,b,c\n", []Row{
			{Index: 0, URI: "/r/abseiling/abc_000001_000011.mp4", Label: "0"},
			{Index: 1, URI: "/r/noext.mp4", Label: "3"},
			{Index: 2, URI: "/r/with,comma.mp4", Label: "5"},
			{Index: 3, URI: "/abs/v.mkv"},
			{Index: 4, Err: "line 5: expected path,label (2 fields), got 3; add a header line naming the columns (uri,caption,label,start,end)"},
		}},
		{"csv with header", CSV, "\xef\xbb\xbfid,Label,URI,caption,start,end\n1,dance,v.mp4,\"two, people\",1,2.5\n2,,w.mp4,,x,\n", []Row{
			{Index: 0, URI: "/r/v.mp4", Label: "dance", Caption: "two, people", Start: 1, End: 2.5},
			{Index: 1, Err: `line 3: start must be a number of seconds, got "x"`},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeString(t, tc.format, "/r", tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows differ\n got: %+v\nwant: %+v", got, tc.want)
			}
		})
	}
}

func TestFatalErrors(t *testing.T) {
	tests := []struct {
		format Format
		in     string
		want   string
	}{
		{JSON, `{"video":"x"}`, "not a JSON list"},
		{JSON, `[{"video":"x"}, {"video": `, "JSON syntax error"},
		{JSON, `[{"video":"x"}`, "not closed"},
		{JSON, `[] []`, "after the JSON list"},
		{Parquet, `not parquet`, "not a Parquet file"},
		{"xml", ``, "unknown manifest format"},
	}
	for _, tc := range tests {
		err := Decode(context.Background(), strings.NewReader(tc.in), Options{Format: tc.format}, func(Row) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: got %v, want an error containing %q", tc.format, tc.in, err, tc.want)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct{ root, p, want string }{
		{"/data", "a/b.mp4", "/data/a/b.mp4"},
		{"/data", "/abs/b.mp4", "/abs/b.mp4"},
		{"/data", "gs://b/o.mp4", "gs://b/o.mp4"},
		{"/data", "file:///x/y.mp4", "/x/y.mp4"},
		{"gs://bucket/k400/", "train/a.mp4", "gs://bucket/k400/train/a.mp4"},
		{"gs://bucket", "../a.mp4", "gs://a.mp4"},
		{"https://host/dir", "v.mp4", "https://host/dir/v.mp4"},
		{"", "rel.mp4", "rel.mp4"},
		{"/data", "file:///x/a%20b%25.mp4", "/x/a b%.mp4"},            // file:// is percent-encoded
		{"/data", "file://localhost/x/y.mp4", "/x/y.mp4"},             // RFC 8089's local host
		{"/data", "/old/caf\xe9.mp4", "file:///old/caf%E9.mp4"},       // not UTF-8: a lossless URI
		{"/data", "file:///old/caf%E9.mp4", "file:///old/caf%E9.mp4"}, // … that resolves to itself
		{"file:///d%FF", "v.mp4", "file:///d%FF/v.mp4"},               // a root that is not UTF-8
		{"/data", "https://h/caf\xe9 \u00e9.mp4", "https://h/caf%E9 \u00e9.mp4"},
	}
	for _, tc := range tests {
		if got, err := Resolve(tc.root, tc.p); err != nil || got != tc.want {
			t.Errorf("Resolve(%q, %q) = %q, %v; want %q", tc.root, tc.p, got, err, tc.want)
		}
	}
	for _, p := range []string{"file:///a/100%.mp4", "file://host/x.mp4", "file://rel", "gs://b/caf\xe9.mp4"} {
		if got, err := Resolve("/data", p); err == nil || !utf8.ValidString(err.Error()) {
			t.Errorf("Resolve(%q) = %q, %v; want a UTF-8 error", p, got, err)
		}
	}
	dirs := map[string]string{"gs://b/x/m.csv": "gs://b/x", "https://h/m.json": "https://h", "gs://b": "gs://b"}
	for in, want := range dirs {
		if got := Dir(in); got != want {
			t.Errorf("Dir(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	for name, want := range map[string]Format{"a.json": JSON, "A.JSONL": JSONL, "x.ndjson": JSONL, "k.csv": CSV,
		"s.tsv": CSV, "m.parquet": Parquet, "https://h/m.csv?sig=1": CSV} {
		if got, err := DetectFormat(name); err != nil || got != want {
			t.Errorf("DetectFormat(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := DetectFormat("m.xml"); err == nil {
		t.Error("DetectFormat(m.xml) should fail")
	}
}

// TestReadLocalDefaultRoot checks that relative paths resolve against the manifest's directory,
// wherever the job is started from.
func TestReadLocalDefaultRoot(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.tsv")
	if err := os.WriteFile(p, []byte("v.mp4\t3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadAll(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].URI != filepath.Join(dir, "v.mp4") || rows[0].Label != "3" {
		t.Fatalf("rows = %+v", rows)
	}
	if _, err := ReadAll(context.Background(), filepath.Join(dir, "none.csv"), Options{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing manifest: %v", err)
	}
}

func TestLongLine(t *testing.T) {
	in := "a.mp4,1\n" + strings.Repeat("x", maxLine+10) + "\nb.mp4,2\n"
	rows := decodeString(t, CSV, "/r", in)
	if len(rows) != 3 || rows[1].Err == "" || rows[2].URI != "/r/b.mp4" || rows[2].Index != 2 {
		t.Fatalf("rows = %d %+v", len(rows), rows[2])
	}
}
