package manifest

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/umt-dev/umt/transforms/manifest/manifesttest"
)

// TestNonUTF8TextBecomesValidRows feeds every format a Latin-1 caption and label and a file
// name that is not UTF-8: each stays a usable row, the text gets U+FFFD (counted), the path a
// file:// URI that decodes to the exact bytes, and UTF-8 rows come out as before.
func TestNonUTF8TextBecomesValidRows(t *testing.T) {
	entries := []manifesttest.Entry{
		{URI: "ok/caf\u00e9.mp4", Caption: "caf\u00e9 \ufffd", Label: "na\u00efve"},
		{URI: "b.mp4", Caption: "caf\xe9 au lait", Label: "na\xefve"},
		{URI: "old/caf\xe9 \xff.mp4", Caption: "x", Start: 1},
	}
	want := []Row{
		{Index: 0, URI: "/r/ok/caf\u00e9.mp4", Caption: "caf\u00e9 \ufffd", Label: "na\u00efve"},
		{Index: 1, URI: "/r/b.mp4", Caption: "caf\ufffd au lait", Label: "na\ufffdve", TextReplaced: 2},
		{Index: 2, URI: "file:///r/old/caf%E9%20%FF.mp4", Caption: "x", Start: 1},
	}
	for _, f := range manifesttest.Formats {
		t.Run(f.Name, func(t *testing.T) {
			data, err := manifesttest.Encode(f.Name, entries)
			if err != nil {
				t.Fatal(err)
			}
			var got []Row
			err = Decode(context.Background(), bytes.NewReader(data), Options{Format: Format(f.Name), Root: "/r"}, func(r Row) error {
				got = append(got, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
			}
			for i, r := range got {
				checkValid(t, r)
				bad := r.BadText
				r.BadText = ""
				if !reflect.DeepEqual(r, want[i]) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, r, want[i])
				}
				if (want[i].TextReplaced > 0) != (bad != "") {
					t.Errorf("row %d: BadText %q with %d replacements", i, bad, r.TextReplaced)
				}
			}
			if b := got[1].BadText; !strings.Contains(b, `caption "caf\xe9 au lait" has 1 byte that is not UTF-8`) || !strings.Contains(b, `label "na\xefve"`) {
				t.Errorf("BadText %q does not quote the original bytes", b)
			}
			p, err := fileURIPath(got[2].URI)
			if err != nil || p != "/r/old/caf\xe9 \xff.mp4" {
				t.Errorf("the file URI %s decodes to %q, %v; want the original bytes", got[2].URI, p, err)
			}
		})
	}
}

func checkValid(t *testing.T, r Row) {
	t.Helper()
	for name, s := range map[string]string{"uri": r.URI, "caption": r.Caption, "label": r.Label, "err": r.Err, "bad_text": r.BadText} {
		if !utf8.ValidString(s) {
			t.Fatalf("row %d: %s %q is not UTF-8", r.Index, name, s)
		}
	}
}

// TestJSONKeepsPathBytes: encoding/json would turn a raw byte into U+FFFD and lose the file;
// Python's json.dumps writes an os.fsdecode'd name's bytes as \udc80…\udcff escapes.
func TestJSONKeepsPathBytes(t *testing.T) {
	rows := decodeString(t, JSONL, "/r", `{"uri": "a\udce9\u00e9\ud83d\ude00\ud800x.mp4", "caption": "\udcff\n\"q\" \\ \/"}`+"\n")
	if len(rows) != 1 {
		t.Fatalf("rows = %+v", rows)
	}
	r := rows[0]
	if p, err := fileURIPath(r.URI); err != nil || p != "/r/a\xe9\u00e9\U0001F600\ufffdx.mp4" {
		t.Errorf("uri %s decodes to %q, %v", r.URI, p, err)
	}
	if r.Caption != "\ufffd\n\"q\" \\ /" || r.TextReplaced != 1 {
		t.Errorf("caption %q with %d replaced", r.Caption, r.TextReplaced)
	}
}

func TestMessagesQuoteForeignBytes(t *testing.T) {
	rows := decodeString(t, CSV, "/r", "uri,start\nv\xe9.mp4,\xe9\n")
	if len(rows) != 1 || rows[0].Err != `line 2: start must be a number of seconds, got "\xe9"` {
		t.Fatalf("rows = %+v", rows)
	}
	rows = decodeString(t, JSONL, "/r", "{\"uri\": 1, \"caption\": \"\xe9\"}\n{\"uri\": [\"\xe9\"]}\n{\"uri\":\"gs://b/\xe9.mp4\"}\n")
	for _, r := range rows {
		checkValid(t, r)
		if r.Err == "" {
			t.Errorf("row %d: want an error", r.Index)
		}
	}
	if want := `line 2: "uri" must be a string path: got ["\xe9"]`; rows[1].Err != want {
		t.Errorf("err %q, want %q", rows[1].Err, want)
	}
	if !strings.Contains(rows[2].Err, "GCS object names are") {
		t.Errorf("gs:// name that is not UTF-8: %q", rows[2].Err)
	}
}

func TestReplaceAndEscapeInvalid(t *testing.T) {
	for _, tc := range []struct{ in, replaced, escaped string }{
		{"plain \u00e9 \ufffd", "plain \u00e9 \ufffd", "plain \u00e9 \ufffd"},
		{"a\xe9b", "a\ufffdb", `a\xe9b`},
		{"\xe2\x82", "\ufffd\ufffd", `\xe2\x82`}, // a cut 3-byte sequence: each byte counts
		{"\xff\"\n", "\ufffd\"\n", "\\xff\"\n"},
	} {
		got, n := ReplaceInvalid(tc.in)
		if got != tc.replaced || n != strings.Count(tc.replaced, "\ufffd")-strings.Count(tc.in, "\ufffd") {
			t.Errorf("ReplaceInvalid(%q) = %q, %d", tc.in, got, n)
		}
		if got := EscapeInvalid(tc.in); got != tc.escaped {
			t.Errorf("EscapeInvalid(%q) = %q, want %q", tc.in, got, tc.escaped)
		}
	}
}

// FuzzLocalPathRoundTrip: any absolute path resolves to a valid UTF-8 name that opens the same
// bytes, and a UTF-8 path resolves to itself (existing clip ids stay as they were).
func FuzzLocalPathRoundTrip(f *testing.F) {
	for _, s := range []string{"/a/b.mp4", "/caf\xe9.mp4", "/x/%41 ?#\xff", "/d/\u00e9/./../e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
			return
		}
		got, err := Resolve("/root", p)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", p, err)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Resolve(%q) = %q is not UTF-8", p, got)
		}
		clean := filepath.Clean(p)
		if utf8.ValidString(clean) {
			if got != clean {
				t.Fatalf("Resolve(%q) = %q, want the path as is", p, got)
			}
			return
		}
		back, err := fileURIPath(got)
		if err != nil || back != clean {
			t.Fatalf("Resolve(%q) = %q decodes to %q, %v", p, got, back, err)
		}
		if again, err := Resolve("", got); err != nil || again != got {
			t.Fatalf("resolving %q again gives %q, %v", got, again, err)
		}
	})
}
