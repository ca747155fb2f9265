package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
)

// readCorpus returns the corpus files (entries without a span: a span is a manifest row's).
func readCorpus(t *testing.T) (string, []testenv.CorpusEntry) {
	t.Helper()
	dir, all := testenv.Corpus(t)
	var out []testenv.CorpusEntry
	for _, e := range all {
		if !e.HasSpan() {
			out = append(out, e)
		}
	}
	return dir, out
}

// One JSON line per corpus file, in order, with the manifest's class (error_class absent for
// ok files, which carry width and rotation instead); exit code 1 because bad files are listed.
func TestInspectVideoCorpus(t *testing.T) {
	dir, entries := readCorpus(t)
	args := []string{"inspect", "video"}
	for _, e := range entries {
		args = append(args, filepath.Join(dir, e.Path))
	}
	code, out := capture(t, args...)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (the corpus has bad files)", code)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		e := entries[i]
		class, _ := line["error_class"].(string)
		want := e.Expect
		if want == "ok" {
			want = ""
		}
		if class != want && !(class == "" && (e.Expect == "corrupt" || e.FoundByDecodingOnly())) {
			t.Errorf("%s: error_class %q, want %q", e.Path, class, want)
		}
		if class == "" && e.Expect == "ok" {
			if int(line["width"].(float64)) != e.Width || int(line["rotation"].(float64)) != e.Rotation {
				t.Errorf("%s: width/rotation %v/%v, want %d/%d", e.Path, line["width"], line["rotation"], e.Width, e.Rotation)
			}
		}
		if line["path"] != filepath.Join(dir, e.Path) {
			t.Errorf("line %d path %v, want %s", i, line["path"], e.Path)
		}
	}
	if i != len(entries) {
		t.Fatalf("%d lines for %d files", i, len(entries))
	}
	if code, _ := capture(t, "inspect", "video"); code != 2 {
		t.Errorf("no files: exit %d, want 2 (usage)", code)
	}
}

// inspect frames writes PNGs equal to the corpus reference frames and a frames.json.
func TestInspectFrames(t *testing.T) {
	dir, entries := readCorpus(t)
	checked := 0
	for _, e := range entries {
		for _, f := range e.Frames {
			if f.File == nil || !f.Ideal || !f.Autorotate || checked >= 3 {
				continue
			}
			checked++
			out := t.TempDir()
			code, _ := capture(t, "inspect", "frames", "--sampler", "at:"+f.SS, "--out", out, filepath.Join(dir, e.Path))
			if code != 0 {
				t.Fatalf("%s: exit %d", e.Path, code)
			}
			if !bytes.Equal(pngRGB(t, filepath.Join(out, "frame_000.png")), pngRGB(t, filepath.Join(dir, *f.File))) {
				t.Errorf("%s at %s: PNG differs from %s", e.Path, f.SS, *f.File)
			}
			var rep framesReport
			b, _ := os.ReadFile(filepath.Join(out, "frames.json"))
			if err := json.Unmarshal(b, &rep); err != nil || len(rep.Frames) != 1 || rep.Width != 224 {
				t.Errorf("frames.json: %v %+v", err, rep)
			}
			left, _ := filepath.Glob(filepath.Join(out, ".tmp-*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		}
	}
	if checked == 0 {
		t.Fatal("the corpus has no reference frames to check")
	}
	if code, _ := capture(t, "inspect", "frames", "--sampler", "bogus", "--out", t.TempDir(), "x.mp4"); code != 2 {
		t.Errorf("bad sampler: exit %d, want 2", code)
	}
	if code, _ := capture(t, "inspect", "frames", "--out", t.TempDir(), filepath.Join(dir, "bad/notes.txt")); code != 1 {
		t.Errorf("not a video: exit %d, want 1", code)
	}
}

func pngRGB(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	var out []byte
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			out = append(out, byte(r>>8), byte(g>>8), byte(bb>>8))
		}
	}
	return out
}

// inspect video --decode gives every corpus file exactly its truth's class (a whole-file decode
// finds damage a probe or a few samples can miss), with the decodable and declared ends.
func TestInspectVideoDecodeCorpus(t *testing.T) {
	dir, entries := readCorpus(t)
	args := []string{"inspect", "video", "--decode", "--deadline", "60s"}
	for _, e := range entries {
		args = append(args, filepath.Join(dir, e.Path))
	}
	code, out := capture(t, args...)
	if code != 1 {
		t.Errorf("exit code %d, want 1 (the corpus has bad files)", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(entries) {
		t.Fatalf("%d lines for %d files", len(lines), len(entries))
	}
	for i, l := range lines {
		var line inspectVideoLine
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		e := entries[i]
		want := e.Expect
		if want == "ok" {
			want = ""
		}
		if string(line.ErrorClass) != want {
			t.Errorf("%s: error_class %q (%s), want %q", e.Path, line.ErrorClass, line.Error, want)
		}
		if e.Expect == "ok" && (line.Decode == nil || line.Decode.DamagedFrames != 0 || e.NbFrames != nil && int64(line.Decode.FramesDecoded) != *e.NbFrames) {
			t.Errorf("%s: decode %+v, want %v frames and none damaged", e.Path, line.Decode, *e.NbFrames)
		}
		if e.FoundByDecodingOnly() && (line.Decode == nil || line.Decode.DeclaredEndS-line.Decode.DecodedEndS < 0.25) {
			t.Errorf("%s: decode %+v, want a decodable end well before the declared one", e.Path, line.Decode)
		}
	}
	code, out = capture(t, "inspect", "video", "--help")
	if !strings.Contains(out, "does not decode") {
		t.Errorf("inspect video --help does not say the default does not decode:\n%s", out)
	}
}
