package prep

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/video"
)

func TestMain(m *testing.M) {
	// Loopback workers leave a file per run in the temp dir (DEPENDENCIES.md gotcha 8).
	dir, err := os.MkdirTemp("", "prep-test-")
	if err == nil {
		os.Setenv("TMPDIR", dir)
	}
	code := m.Run()
	if err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// truth is one corpus entry of testdata/videos/manifest.jsonl (the shared corpus truth).
type truth = testenv.CorpusEntry

func corpus(t testing.TB) (string, []truth) { return testenv.Corpus(t) }

// subset picks the corpus entries the default test run uses: every bad file and the small,
// quick good ones (all of them with UMT_SOAK=1).
func subset(t testing.TB) (string, []truth) {
	dir, all := corpus(t)
	if os.Getenv("UMT_SOAK") != "" {
		return dir, all
	}
	var out []truth
	good := 0
	for _, e := range all {
		if e.Expect != "ok" {
			out = append(out, e)
		} else if good < 6 && e.SizeBytes < 400_000 {
			out = append(out, e)
			good++
		}
	}
	return dir, out
}

// writeManifest writes entries as JSONL with paths relative to the corpus (root), plus one
// malformed row and one duplicate of the first entry.
func writeManifest(t testing.TB, entries []truth) string {
	p := filepath.Join(t.TempDir(), "manifest.jsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		row := map[string]any{"uri": e.Path, "caption": e.Caption}
		if e.HasSpan() {
			row["start"], row["end"] = e.Span()
		}
		json.NewEncoder(f).Encode(row)
	}
	fmt.Fprintln(f, `{"uri": "x.mp4", "start": 3, "end": 1}`)
	json.NewEncoder(f).Encode(map[string]any{"uri": entries[0].Path, "caption": "again"})
	f.Close()
	return p
}

func tinyConfig(t testing.TB, manifestPath, root, out string) Config {
	c := Defaults()
	c.Manifest, c.Root, c.Output = manifestPath, root, out
	c.Teacher = filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors")
	c.Frames, c.Size, c.Layout = 4, 64, "visible:2"
	c.TeacherConfig.Resolution = 64 // the tiny teacher's native 4×4 grid
	c.BatchClips, c.GroupClips = 3, 4
	c.Workers = 1
	return c
}

func TestEndToEnd(t *testing.T) {
	root, entries := subset(t)
	out := filepath.Join(t.TempDir(), "ds")
	cfg := tinyConfig(t, writeManifest(t, entries), root, out)
	rep, err := prepareRun(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Summary())
	checkOutcomes(t, root, out, entries, rep)
	if rep.PaddedFrames != 0 || rep.DamagedFrames != 0 {
		t.Errorf("default run wrote %d padded and %d damaged frames; only --on-missing=pad / --on-corrupt=keep may", rep.PaddedFrames, rep.DamagedFrames)
	}
	checkRowsAgainstTeacher(t, cfg, out)
}

// checkOutcomes compares every corpus entry's outcome (ok, or its failure class) with the
// ground truth, and the totals with the report: nothing lost, nothing counted twice.
func checkOutcomes(t *testing.T, root, out string, entries []truth, rep *Report) {
	t.Helper()
	ds, err := shard.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := ds.Verify(context.Background()); err != nil {
		t.Fatalf("verify: %v", err)
	}
	fails, err := ds.Failures(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ok := testenv.CheckOutcomes(t, root, entries, fails)
	if rep.Rows != int64(len(entries)+2) || rep.OK != ok || int(rep.Failed) != len(fails) || !rep.Accounted || int64(ds.Len()) != ok {
		t.Errorf("report rows %d ok %d failed %d, dataset %d rows / %d failures; want rows %d ok %d",
			rep.Rows, rep.OK, rep.Failed, ds.Len(), len(fails), len(entries)+2, ok)
	}
}

// checkRowsAgainstTeacher reads every committed row back and compares it with sampling the
// same video and calling the teacher directly, one clip at a time.
func checkRowsAgainstTeacher(t *testing.T, user Config, out string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := Prepare(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := shard.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	teacher, _, err := loadTeacher(cfg.Teacher, "", cfg.TeacherConfig, cfg.Frames, 1, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer teacher.Close()
	n := 0
	err = ds.Scan(ctx, func(i int, row schemas.ClipRow) error {
		n++
		c, err := video.Sample(ctx, video.FileSource(row.SourceURI), cfg.SampleConfig(row.ClipID, row.SpanStartS, 0))
		if err != nil {
			return fmt.Errorf("%s: %v", row.SourceURI, err)
		}
		if !bytes.Equal(c.Frames, row.Frames) || !slices.Equal(c.PTS, row.FramePTS) {
			t.Errorf("%s: stored frames differ from sampling the video directly", row.SourceURI)
		}
		feats, attn, err := teacher.Encode(c.Frames, 1, cfg.Frames, cfg.Size, cfg.Size)
		if err != nil {
			return err
		}
		d := Decoded{Work: Work{Row: manifest.Row{URI: row.SourceURI, Caption: row.Caption}, ClipID: row.ClipID}, Frames: c.Frames, FramePTS: c.PTS, FrameTimeS: c.TimeS}
		want, err := newRowMaker(cfg).one(d, feats, attn)
		if err != nil {
			return err
		}
		if !slices.Equal(want.TeacherTokens, row.TeacherTokens) || !slices.Equal(want.Masks, row.Masks) {
			t.Errorf("%s: stored tokens/masks differ from a direct draw", row.SourceURI)
		}
		if !slices.Equal(want.TeacherFeatures, row.TeacherFeatures) || !slices.Equal(want.TeacherCLSAttn, row.TeacherCLSAttn) {
			t.Errorf("%s: stored teacher features differ from calling the teacher directly", row.SourceURI)
		}
		if len(row.Masks) != cfg.Provenance.Masks*cfg.Frames*cfg.Provenance.VisiblePerFrame() {
			t.Errorf("%s: %d mask indices", row.SourceURI, len(row.Masks))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no rows to check")
	}
}
