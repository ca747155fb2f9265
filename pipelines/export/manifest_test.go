package export

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/storage/storagetest"
	"github.com/umt-dev/umt/transforms/video"
)

// corpusSubset is every bad entry of the video corpus (UMT_VIDEOS) and a few small good ones;
// all of them with UMT_SOAK=1.
func corpusSubset(t testing.TB, good int) (string, []testenv.CorpusEntry) {
	dir, all := testenv.Corpus(t)
	var out []testenv.CorpusEntry
	n := 0
	for _, e := range all {
		if e.Expect != "ok" || os.Getenv("UMT_SOAK") != "" || n < good && e.SizeBytes < 400_000 {
			out = append(out, e)
			if e.Expect == "ok" {
				n++
			}
		}
	}
	return dir, out
}

// writeManifest writes entries as JSONL (paths relative to the corpus) plus one malformed row
// and one duplicate of the first entry.
func writeManifest(t testing.TB, entries []testenv.CorpusEntry) string {
	var b bytes.Buffer
	for _, e := range entries {
		row := map[string]any{"uri": e.Path, "caption": e.Caption}
		if e.HasSpan() {
			row["start"], row["end"] = e.Span()
		}
		json.NewEncoder(&b).Encode(row)
	}
	b.WriteString(`{"uri": "x.mp4", "start": 3, "end": 1}` + "\n")
	json.NewEncoder(&b).Encode(map[string]any{"uri": entries[0].Path, "caption": "again"})
	p := filepath.Join(t.TempDir(), "manifest.jsonl")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// manifestConfig exports manifest m (videos under root) with the tiny teacher, 4 frames of 64².
func manifestConfig(t testing.TB, m, root, out string) Config {
	spec, tc := tinyTeacher(t)
	cfg := Defaults()
	cfg.Input, cfg.Root, cfg.Output, cfg.Teacher, cfg.TeacherConfig, cfg.Threads = m, root, out, spec, tc, 1
	cfg.Sampling.Frames, cfg.Sampling.Size, cfg.GroupClips = 4, 64, 4
	return cfg
}

func mustExport(t testing.TB, cfg Config) *Report {
	t.Helper()
	ctx := context.Background()
	plan, err := Prepare(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Accounted {
		t.Fatalf("report %+v: ok + failed != rows", rep)
	}
	return rep
}

// TestManifestOutcomesMatchCorpus exports every bad video of the corpus and a few good ones
// from a manifest: each entry's outcome (an embedding, or a failure of its class) is the
// corpus truth's, the malformed row and the duplicate fail as prep fails them, ok + failed ==
// rows in the report, the index and the files, and every embedding equals the teacher's own
// forward on the frames prep's sampling gives for that clip.
func TestManifestOutcomesMatchCorpus(t *testing.T) {
	ctx := context.Background()
	root, entries := corpusSubset(t, 6)
	cfg := manifestConfig(t, writeManifest(t, entries), root, t.TempDir())
	cfg.NPY = true
	rep := mustExport(t, cfg)
	t.Log(rep.Summary())
	idx, rows, err := ReadEmbeddings(ctx, cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	fails, err := ReadFailures(ctx, cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fails {
		if f.ErrorClass != schemas.ClassManifest && f.ErrorClass != schemas.ClassDuplicate && (f.Stage != schemas.StageDecode || f.Attempt != 1 || f.Message == "") {
			t.Errorf("failure %+v: want stage decode, attempt 1 and a message", f)
		}
	}
	ok := testenv.CheckOutcomes(t, root, entries, fails)
	n := int64(len(entries) + 2)
	if rep.Rows != n || rep.OK != ok || idx.Rows != ok || int64(len(rows)) != ok || rep.Failed != int64(len(fails)) || idx.InputRows != n || ok+int64(len(fails)) != n {
		t.Errorf("report rows %d ok %d failed %d; index %d+%d of %d; files %d rows, %d failures; want %d rows, %d ok",
			rep.Rows, rep.OK, rep.Failed, idx.Rows, idx.Failed, idx.InputRows, len(rows), len(fails), n, ok)
	}
	var byClass int64
	for _, c := range rep.FailedByClass {
		byClass += c
	}
	if byClass != rep.Failed {
		t.Errorf("failures by class %v add up to %d, want %d", rep.FailedByClass, byClass, rep.Failed)
	}
	checkAgainstForward(t, cfg, rows)
	checkNPYView(t, cfg.Output) // with shards that hold no row: every row of their group failed
}

// checkAgainstForward samples each exported clip again, as prep does, and compares its
// embedding with the teacher's forward on those frames (one clip per call, mean over frames).
func checkAgainstForward(t *testing.T, cfg Config, rows []schemas.EmbeddingRow) {
	t.Helper()
	ctx := context.Background()
	w, tc, err := clip.Load(ctx, cfg.Teacher, clip.LoadOptions{Config: cfg.TeacherConfig})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := kernels.Open("cpu", kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	T, S := cfg.Sampling.Frames, cfg.Sampling.Size
	tch, err := clip.New(dev.Backend, tc, w, clip.Options{MaxFrames: T})
	if err != nil {
		t.Fatal(err)
	}
	defer tch.Close()
	if len(rows) == 0 {
		t.Fatal("no rows to check")
	}
	for _, r := range rows {
		start, end := r.SpanStartS, r.SpanEndS
		if want := schemas.ClipID(r.SourceURI, start, end, cfg.Sampling.String()); want != r.ClipID {
			end = 0 // a span "to the end" records its last frame's time
		}
		if want := schemas.ClipID(r.SourceURI, start, end, cfg.Sampling.String()); want != r.ClipID {
			t.Errorf("%s: clip id %s is not prep's id of its uri, span and sampling (%s)", r.SourceURI, r.ClipID, want)
			continue
		}
		c, err := video.SampleEntry(ctx, r.SourceURI, false, cfg.Sampling.For(r.ClipID, start, end))
		if err != nil {
			t.Fatalf("%s: %v", r.SourceURI, err)
		}
		per, err := tch.EncodePooled(c.Frames, 1, T, S, S)
		if err != nil {
			t.Fatal(err)
		}
		if e := MeanL2(per, T, tc.OutputDim); !slices.Equal(e, r.Embedding) {
			t.Errorf("%s: exported embedding differs from the teacher's forward on prep's frames", r.SourceURI)
		}
	}
}

// childEnv carries a Config to TestExportChild in a subprocess.
const childEnv = "UMT_EXPORT_CHILD_CONFIG"

// TestExportChild is the subprocess of the kill tests; it does nothing in a normal run.
func TestExportChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("helper process for the kill tests")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	mustExport(t, cfg)
}

// killMidRun runs the export in a subprocess and SIGKILLs it as soon as one shard is
// committed at its output.
func killMidRun(t *testing.T, cfg Config) {
	t.Helper()
	ctx := context.Background()
	st, err := storage.OpenStore(ctx, cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, _ := json.Marshal(cfg)
	testenv.KillWhen(t, "TestExportChild", childEnv+"="+string(raw), func() bool {
		objs, _ := st.List(ctx, "embeddings-")
		return len(objs) > 0
	})
	if _, err := st.Stat(ctx, IndexName); err == nil {
		t.Log("the killed run had already committed its index")
	}
}

// tree reads every object under an export root (local or gs://), by name.
func tree(t *testing.T, uri string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	st, err := storage.OpenStore(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objs, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range objs {
		r, err := st.Open(ctx, o.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[o.Name] = b
	}
	return out
}

// sameTree reports every file that differs between two export trees.
func sameTree(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: the uninterrupted export is empty", what)
	}
	for name, b := range want {
		if g, ok := got[name]; !ok || !bytes.Equal(g, b) {
			t.Errorf("%s: %s differs from the uninterrupted run's (present %v)", what, name, ok)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: %s is not in the uninterrupted run's export", what, name)
		}
	}
}

// TestKillAndRerunEqualsUninterrupted: an export SIGKILLed as soon as its first shard is
// committed, then rerun, leaves exactly the files of an uninterrupted run, byte for byte
// (shards, failures, the --npy view, index.json), for a dataset and for a manifest input, on
// local disk and on fake-gcs-server through the production GCS client.
func TestKillAndRerunEqualsUninterrupted(t *testing.T) {
	root, entries := corpusSubset(t, 6)
	m := writeManifest(t, entries)
	ds, _ := framesDataset(t, 24, 2, 32)
	inputs := map[string]Config{"manifest": manifestConfig(t, m, root, ""), "dataset": teacherConfig(t, ds, "", 2)}
	if testing.Short() {
		t.Skip("kills subprocess exports and starts a GCS emulator")
	}
	storagetest.NewEmulator(t, "umt")
	for _, name := range []string{"dataset", "manifest"} {
		cfg := inputs[name]
		cfg.NPY = true
		cfg.Output = filepath.Join(t.TempDir(), "clean")
		mustExport(t, cfg)
		want := tree(t, cfg.Output)
		for _, out := range []string{filepath.Join(t.TempDir(), "killed"), "gs://umt/" + name} {
			cfg.Output = out
			killMidRun(t, cfg)
			rep := mustExport(t, cfg)
			t.Logf("%s → %s: resumed with %d computed, %d reused", name, out, rep.Computed, rep.Committed)
			sameTree(t, name+" → "+out, tree(t, out), want)
		}
	}
}

// retrySet copies a few good corpus videos into a fresh root and writes a manifest naming them
// plus late.mp4, which does not exist yet; arrive puts a good video there.
func retrySet(t *testing.T) (manifestPath, root string, arrive func()) {
	src, all := testenv.Corpus(t)
	root = t.TempDir()
	var entries []testenv.CorpusEntry
	for _, e := range all {
		if e.Expect == "ok" && e.SizeBytes < 300_000 && !e.HasSpan() && len(entries) < 3 {
			b, err := os.ReadFile(filepath.Join(src, e.Path))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, filepath.Base(e.Path)), b, 0o644); err != nil {
				t.Fatal(err)
			}
			entries = append(entries, testenv.CorpusEntry{Path: filepath.Base(e.Path), Caption: e.Caption})
		}
	}
	entries = append(entries, testenv.CorpusEntry{Path: "late.mp4", Caption: "arrives after the first run"})
	arrive = func() {
		b, err := os.ReadFile(filepath.Join(root, entries[0].Path))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "late.mp4"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return writeManifest(t, entries), root, arrive
}

// TestRetryFailedRedoesOnlyFailures: a rerun keeps recorded failures (nothing computed) until
// --retry-failed, which decodes only them; once the missing video exists, the retried export
// holds a clean run's rows and failures, and no file the index does not list.
func TestRetryFailedRedoesOnlyFailures(t *testing.T) {
	ctx := context.Background()
	m, root, arrive := retrySet(t)
	cfg := manifestConfig(t, m, root, t.TempDir())
	cfg.NPY = true
	first := mustExport(t, cfg)
	if first.FailedByClass[schemas.ClassMissing] != 1 {
		t.Fatalf("first run failures %v, want one missing", first.FailedByClass)
	}
	arrive()
	again := mustExport(t, cfg)
	if again.Computed != 0 || again.FailedByClass[schemas.ClassMissing] != 1 || again.OK != first.OK {
		t.Fatalf("rerun without --retry-failed: computed %d, failures %v, ok %d (first ok %d)", again.Computed, again.FailedByClass, again.OK, first.OK)
	}
	cfg.RetryFailed = true
	retried := mustExport(t, cfg)
	if retried.Computed != 1 || retried.Retried != 1 || retried.OK != first.OK+1 || retried.FailedByClass[schemas.ClassMissing] != 0 {
		t.Fatalf("--retry-failed: computed %d, retried %d, ok %d, failures %v", retried.Computed, retried.Retried, retried.OK, retried.FailedByClass)
	}
	after := mustExport(t, Config(cfg))
	if after.Computed != 0 || after.OK != retried.OK {
		t.Errorf("a rerun after the retry: computed %d, ok %d; want 0 and %d", after.Computed, after.OK, retried.OK)
	}
	clean := cfg
	clean.RetryFailed, clean.Output = false, t.TempDir()
	mustExport(t, clean)
	_, rows1, _ := ReadEmbeddings(ctx, clean.Output)
	_, rows2, _ := ReadEmbeddings(ctx, cfg.Output)
	f1, _ := ReadFailures(ctx, clean.Output)
	f2, _ := ReadFailures(ctx, cfg.Output)
	if !slices.EqualFunc(rows1, rows2, sameRow) || len(f1) != len(f2) || len(rows2) != int(retried.OK) {
		t.Errorf("retried export: %d rows, %d failures; a clean run over the fixed input: %d rows, %d failures", len(rows2), len(f2), len(rows1), len(f1))
	}
	idx, err := ReadIndex(ctx, cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{IndexName: true}
	for _, sh := range idx.Shards {
		base := strings.TrimSuffix(sh.Name, ".parquet")
		listed[sh.Name] = true
		if sh.Rows > 0 {
			listed[npyName(base)], listed[metaName(base)] = true, true
		}
	}
	for _, f := range idx.Failures {
		listed[f.Name] = true
	}
	for name := range tree(t, cfg.Output) {
		if !listed[name] {
			t.Errorf("%s is left beside the retried export, which does not list it", name)
		}
	}
}

func sameRow(a, b schemas.EmbeddingRow) bool {
	return a.ClipID == b.ClipID && a.SourceURI == b.SourceURI && a.SpanStartS == b.SpanStartS && a.SpanEndS == b.SpanEndS &&
		a.Caption == b.Caption && slices.Equal(a.Embedding, b.Embedding)
}

// TestDeadlineFailsAsTimeout: every decode runs under --deadline: with one far too short for
// any video, every entry fails as timeout (stage decode), nothing hangs, and ok + failed ==
// rows still holds.
func TestDeadlineFailsAsTimeout(t *testing.T) {
	root, all := testenv.Corpus(t)
	var entries []testenv.CorpusEntry
	for _, e := range all {
		if e.Expect == "ok" && !e.HasSpan() && len(entries) < 3 {
			entries = append(entries, e)
		}
	}
	cfg := manifestConfig(t, writeManifest(t, entries), root, t.TempDir())
	cfg.Sampling.Deadline = time.Microsecond
	rep := mustExport(t, cfg)
	if rep.OK != 0 || rep.FailedByClass[schemas.ClassTimeout] != int64(len(entries)) || rep.Rows != int64(len(entries)+2) {
		t.Errorf("report %+v: want all %d videos failed as timeout", rep, len(entries))
	}
	fails, err := ReadFailures(context.Background(), cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fails {
		if f.ErrorClass == schemas.ClassTimeout && f.Stage != schemas.StageDecode {
			t.Errorf("timeout failure at stage %s, want decode", f.Stage)
		}
	}
}
