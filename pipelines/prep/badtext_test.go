package prep

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/manifest/manifesttest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/video"
)

// badTextCase is a directory of copies of one small valid video under names an old archive
// may hold, and a manifest (in every format) whose rows point at them.
type badTextCase struct {
	dir     string
	entries []manifesttest.Entry
	oldName string // the file name that is not UTF-8
}

func newBadTextCase(t *testing.T) badTextCase {
	t.Helper()
	src, err := os.ReadFile(testenv.Testdata(t, "videos", "synthetic", "h264_0.2s_320x240_25fps.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	c := badTextCase{dir: t.TempDir(), oldName: "caf\xe9 \xff.mp4"}
	for _, name := range []string{"good.mp4", "latin.mp4", c.oldName} {
		if err := os.WriteFile(filepath.Join(c.dir, name), src, 0o644); err != nil {
			t.Fatalf("writing %q: %v", name, err)
		}
	}
	c.entries = []manifesttest.Entry{
		{URI: "good.mp4", Caption: "a caf\u00e9 in UTF-8", Label: "0"},
		{URI: "latin.mp4", Caption: "caf\xe9 au lait", Label: "na\xefve"}, // Latin-1 text
		{URI: c.oldName, Caption: "an old archive's file name", Label: "2"},
		{URI: "gone\xe9.mp4", Caption: "absent, and not UTF-8"},
	}
	return c
}

// TestOneBadRowNeverFailsAJob runs real prep on Prism over a manifest in every format with a
// Latin-1 caption and label, a valid video whose file name is not UTF-8 and an absent one whose
// name is not UTF-8 either: the job succeeds, ok + failed = rows, the Latin-1 row is a row
// with U+FFFD (counted in the report), the odd file name is stored losslessly and opens the
// same file, and every message is UTF-8 naming the file by its URI.
func TestOneBadRowNeverFailsAJob(t *testing.T) {
	c := newBadTextCase(t)
	for _, f := range manifesttest.Formats {
		t.Run(f.Name, func(t *testing.T) {
			data, err := manifesttest.Encode(f.Name, c.entries)
			if err != nil {
				t.Fatal(err)
			}
			man := filepath.Join(t.TempDir(), "manifest"+f.Ext)
			if err := os.WriteFile(man, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "ds")
			cfg := tinyConfig(t, man, c.dir, out)
			rep, err := prepareRun(context.Background(), cfg)
			if err != nil {
				t.Fatalf("the job failed: %v", err)
			}
			if rep.Rows != 4 || rep.OK != 3 || rep.Failed != 1 || !rep.Accounted {
				t.Fatalf("rows %d ok %d failed %d; want 4 rows, 3 ok, 1 failed", rep.Rows, rep.OK, rep.Failed)
			}
			if rep.TextRows != 1 || rep.TextBytes != 2 {
				t.Errorf("report counts %d rows / %d bytes of replaced text; want 1 / 2", rep.TextRows, rep.TextBytes)
			}
			if !strings.Contains(rep.Summary(), "1 rows kept with U+FFFD for 2 caption/label bytes") {
				t.Errorf("the summary does not count the replacements:\n%s", rep.Summary())
			}
			rows, fails := readDataset(t, out)
			latin := rows[filepath.Join(c.dir, "latin.mp4")]
			if latin.Caption != "caf\ufffd au lait" || latin.Label != "na\ufffdve" {
				t.Errorf("Latin-1 row stored as caption %q label %q", latin.Caption, latin.Label)
			}
			if good := rows[filepath.Join(c.dir, "good.mp4")]; good.Caption != "a caf\u00e9 in UTF-8" {
				t.Errorf("a UTF-8 caption changed: %q", good.Caption)
			}
			oldURI := manifest.FileURI(filepath.Join(c.dir, c.oldName))
			old, ok := rows[oldURI]
			if !ok {
				t.Fatalf("no row for %s among %d rows", oldURI, len(rows))
			}
			direct, err := video.Sample(context.Background(), video.FileSource(filepath.Join(c.dir, c.oldName)), cfg.SampleConfig(old.ClipID, 0, 0))
			if err != nil || !bytes.Equal(direct.Frames, old.Frames) {
				t.Errorf("the row of %s does not hold that file's frames (%v)", oldURI, err)
			}
			gone := manifest.FileURI(filepath.Join(c.dir, "gone\xe9.mp4"))
			if len(fails) != 1 || fails[0].URI != gone || fails[0].ErrorClass != "missing" || !strings.Contains(fails[0].Message, gone) {
				t.Errorf("failures %+v; want one missing %s naming it", fails, gone)
			}
			for _, fr := range fails {
				if !utf8.ValidString(fr.Message) {
					t.Errorf("failure message %q is not UTF-8", fr.Message)
				}
			}
		})
	}
}

// TestBadTextFailPolicyFailsOnlyThatRow: with --on-bad-text=fail the Latin-1 row alone fails,
// as bad_text, quoting the original bytes; the other rows are written.
func TestBadTextFailPolicyFailsOnlyThatRow(t *testing.T) {
	c := newBadTextCase(t)
	data, err := manifesttest.Encode("csv", c.entries)
	if err != nil {
		t.Fatal(err)
	}
	man := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(man, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "ds")
	cfg := tinyConfig(t, man, c.dir, out)
	cfg.OnBadText = BadTextFail
	rep, err := prepareRun(context.Background(), cfg)
	if err != nil {
		t.Fatalf("the job failed: %v", err)
	}
	if rep.OK != 2 || rep.Failed != 2 || !rep.Accounted || rep.FailedByClass[schemas.ClassBadText] != 1 || rep.TextRows != 0 {
		t.Fatalf("ok %d failed %d by class %v, %d rows replaced; want 2 ok, one %s and one missing, none replaced", rep.OK, rep.Failed, rep.FailedByClass, rep.TextRows, schemas.ClassBadText)
	}
	_, fails := readDataset(t, out)
	for _, f := range fails {
		if f.ErrorClass == schemas.ClassBadText && (f.URI != filepath.Join(c.dir, "latin.mp4") || f.ClipID == "" ||
			!strings.Contains(f.Message, `line 3: caption "caf\xe9 au lait" has 1 byte that is not UTF-8; label "na\xefve"`)) {
			t.Errorf("bad_text failure %+v does not name the row and quote its bytes", f)
		}
	}
}

// readDataset returns the committed rows by source URI and the failures.
func readDataset(t *testing.T, out string) (map[string]schemas.ClipRow, []schemas.FailureRow) {
	t.Helper()
	ctx := context.Background()
	ds, err := shard.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := ds.Verify(ctx); err != nil {
		t.Fatalf("verify: %v", err)
	}
	rows := map[string]schemas.ClipRow{}
	err = ds.Scan(ctx, func(_ int, r schemas.ClipRow) error {
		rows[r.SourceURI] = r.Clone()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fails, err := ds.Failures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rows, fails
}

// TestCommandLinePathsThatAreNotUTF8: a manifest, a video root, an output and a teacher under
// directories whose names are not UTF-8 (old archives, Latin-1 mounts) work as given: the plan
// carries them as file:// URIs (Beam's JSON would turn the bytes into U+FFFD), and the dataset
// lands at the exact bytes of --output.
func TestCommandLinePathsThatAreNotUTF8(t *testing.T) {
	c := newBadTextCase(t)
	base := filepath.Join(t.TempDir(), "archiv\xe9")
	root := filepath.Join(base, "vid\xe9os")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"good.mp4", "latin.mp4"} {
		data, err := os.ReadFile(filepath.Join(c.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	teacherSrc, err := os.ReadFile(filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	teacher := filepath.Join(base, "lehrer\xfc.safetensors")
	if err := os.WriteFile(teacher, teacherSrc, 0o644); err != nil {
		t.Fatal(err)
	}
	man := filepath.Join(base, "liste\xe9.csv")
	if err := os.WriteFile(man, []byte("uri,caption\ngood.mp4,one\nlatin.mp4,two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(base, "sortie\xe9", "ds")
	cfg := tinyConfig(t, man, root, out)
	cfg.Teacher = teacher
	plan, err := Prepare(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"--input": plan.Manifest, "--output": plan.Output, "--root": plan.Root, "--teacher": plan.Teacher} {
		if !utf8.ValidString(v) || !strings.HasPrefix(v, "file://") {
			t.Errorf("%s is carried as %q, want a file:// URI", name, v)
		}
	}
	rep, err := Run(context.Background(), plan)
	if err != nil {
		t.Fatalf("the job failed: %v", err)
	}
	if rep.OK != 2 || rep.Failed != 0 {
		t.Fatalf("ok %d failed %d, want 2 ok", rep.OK, rep.Failed)
	}
	if _, err := os.Stat(filepath.Join(out, shard.IndexName)); err != nil {
		t.Fatalf("the dataset is not at the --output bytes: %v", err)
	}
	rows, _ := readDataset(t, manifest.FileURI(out))
	if _, ok := rows[manifest.FileURI(filepath.Join(root, "good.mp4"))]; !ok || len(rows) != 2 {
		t.Fatalf("rows %d, keyed %v", len(rows), slices.Collect(maps.Keys(rows)))
	}
}
