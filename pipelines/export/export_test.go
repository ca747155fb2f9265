package export

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/kernels"
	_ "github.com/umt-dev/umt/kernels/cpu"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

func TestMain(m *testing.M) {
	// Loopback workers leave a file per run in the temp dir.
	dir, err := os.MkdirTemp("", "export-test-")
	if err == nil {
		os.Setenv("TMPDIR", dir)
	}
	code := m.Run()
	if err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// framesDataset commits a frames dataset of n random clips of T frames of S×S.
func framesDataset(t testing.TB, n, T, S int) (string, []schemas.ClipRow) {
	return commitDataset(t, schematest.Provenance(schemas.LayoutFrames, T, S, 0, 0, 0), n)
}

// commitDataset commits a dataset of n random rows of p (schematest.Row).
func commitDataset(t testing.TB, p schemas.Provenance, n int) (string, []schemas.ClipRow) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := storage.OpenStore(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := shard.NewWriter(store, p, shard.WriterOptions{Key: "t", BatchRows: 2, TargetBytes: 8_000})
	if err != nil {
		t.Fatal(err)
	}
	var rows []schemas.ClipRow
	for i := 0; i < n; i++ {
		r := schematest.Row(p, uint64(i))
		rows = append(rows, r)
		if err := w.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := shard.CommitIndex(ctx, dir, shard.IndexOptions{Store: store}); err != nil {
		t.Fatal(err)
	}
	return dir, rows
}

// tinyTeacher is the reference set's tiny OpenAI-named teacher (4 heads, run at 64).
func tinyTeacher(t testing.TB) (string, clip.Config) {
	return filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors"), clip.Config{Heads: 4, Resolution: 64}
}

// teacherConfig is the export of in to out by the tiny teacher in shards of group rows.
func teacherConfig(t testing.TB, in, out string, group int) Config {
	spec, tc := tinyTeacher(t)
	cfg := Defaults()
	cfg.Input, cfg.Output, cfg.Teacher, cfg.TeacherConfig, cfg.GroupClips, cfg.Threads = in, out, spec, tc, group, 1
	return cfg
}

func runExport(t testing.TB, in, out string, group int) *Report {
	t.Helper()
	return runConfig(t, teacherConfig(t, in, out, group))
}

// runConfig prepares and runs cfg and checks that every row was exported.
func runConfig(t testing.TB, cfg Config) *Report {
	t.Helper()
	rep := mustExport(t, cfg)
	if rep.OK != rep.Rows {
		t.Fatalf("report %+v: want every row exported", rep)
	}
	return rep
}

// readExport reads an export with ReadEmbeddings, and the file metadata of its first shard.
func readExport(t testing.TB, root string) (*Index, []schemas.EmbeddingRow, map[string]string) {
	t.Helper()
	idx, rows, err := ReadEmbeddings(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, idx.Shards[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	kv := pf.MetaData().KeyValueMetadata()
	for i, k := range kv.Keys() {
		meta[k] = kv.Values()[i]
	}
	return idx, rows, meta
}

// TestExportEqualsTeacherForward: every exported embedding is bit-identical to the teacher's
// own pooled forward on the clip's stored frames (one clip per call, mean over frames, L2), the
// rows keep the input's ids, order and spans, and the file says what made them.
func TestExportEqualsTeacherForward(t *testing.T) {
	const n, T, S = 5, 2, 32
	in, want := framesDataset(t, n, T, S)
	out := t.TempDir()
	rep := runExport(t, in, out, 2)
	if rep.Shards != 3 || rep.Computed != n {
		t.Errorf("report %+v: want 3 shards of ≤2 rows, %d computed", rep, n)
	}
	idx, got, meta := readExport(t, out)
	if len(got) != n || idx.Rows != n {
		t.Fatalf("export holds %d rows (index %d), want %d", len(got), idx.Rows, n)
	}
	spec, tc := tinyTeacher(t)
	w, cfg, err := clip.Load(context.Background(), spec, clip.LoadOptions{Config: tc})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := kernels.Open("cpu", kernels.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	tch, err := clip.New(dev.Backend, cfg, w, clip.Options{MaxFrames: T})
	if err != nil {
		t.Fatal(err)
	}
	defer tch.Close()
	for i, r := range want {
		g := got[i]
		if g.ClipID != r.ClipID || g.SourceURI != r.SourceURI || g.SpanStartS != r.SpanStartS || g.SpanEndS != r.SpanEndS || g.Caption != r.Caption {
			t.Errorf("row %d: %+v, want the input's clip %s %s [%v, %v] %q", i, g, r.ClipID, r.SourceURI, r.SpanStartS, r.SpanEndS, r.Caption)
		}
		per, err := tch.EncodePooled(r.Frames, 1, T, S, S)
		if err != nil {
			t.Fatal(err)
		}
		if e := MeanL2(per, T, cfg.OutputDim); !slices.Equal(e, g.Embedding) {
			t.Errorf("row %d: exported embedding differs from the teacher's forward:\n%v\n%v", i, g.Embedding, e)
		}
		if !slices.Equal(per, g.FrameEmbeddings) {
			t.Errorf("row %d: exported frame embeddings differ from the teacher's per-frame forward", i)
		}
	}
	for k, v := range map[string]string{schemas.MetaModel: "clip:teacher_tiny_openai.safetensors", schemas.MetaSpace: "video",
		schemas.MetaDim: "32", schemas.MetaDType: "float32", schemas.MetaSchema: "embeddings"} {
		if meta[k] != v {
			t.Errorf("file metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	if sum, _ := storage.FileSHA256(context.Background(), spec); meta[schemas.MetaModelSHA256] != sum || meta[schemas.MetaNormalisation] == "" || meta[schemas.MetaPreprocessing] == "" {
		t.Errorf("file metadata %v: want the weights' sha256 %s, the preprocessing and the normalisation", meta, sum)
	}
	if _, ok := meta["ARROW:schema"]; !ok {
		t.Error("the Arrow schema is not stored in the file (WithStoreSchema)")
	}
}

// TestResumeEqualsUninterrupted: a run killed after some shards committed (simulated: shards
// and index removed from a finished run) resumes, reuses what was committed, and leaves the
// same bytes as an uninterrupted run.
func TestResumeEqualsUninterrupted(t *testing.T) {
	in, _ := framesDataset(t, 5, 2, 32)
	t.Run("teacher", func(t *testing.T) {
		checkResume(t, func(out string) Config { return teacherConfig(t, in, out, 2) })
	})
	// Every column kind (frame and nullable text embeddings) in float16.
	captioned, _ := captionedDataset(t, 5, 2, 32, 6)
	ckpt, _ := stage2Checkpoint(t)
	t.Run("stage2 float16", func(t *testing.T) {
		checkResume(t, func(out string) Config {
			cfg := modelConfig(captioned, out, ModelStage2, ckpt)
			cfg.DType = schemas.DTypeFloat16
			return cfg
		})
	})
}

// checkResume runs the export cfgFor(out) of 5 rows in shards of 2 cleanly and again with one
// shard and the index removed, and compares the bytes.
func checkResume(t *testing.T, cfgFor func(out string) Config) {
	clean := t.TempDir()
	runConfig(t, cfgFor(clean))
	killed := t.TempDir()
	runConfig(t, cfgFor(killed))
	idx, err := ReadIndex(context.Background(), killed)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(killed, IndexName))
	os.Remove(filepath.Join(killed, idx.Shards[1].Name))
	rep := runConfig(t, cfgFor(killed))
	if rep.Committed != 3 || rep.Computed != 2 {
		t.Errorf("resumed run: %d reused, %d computed; want 3 and 2", rep.Committed, rep.Computed)
	}
	for _, name := range append([]string{IndexName}, shardNames(idx)...) {
		a, _ := os.ReadFile(filepath.Join(clean, name))
		b, err := os.ReadFile(filepath.Join(killed, name))
		if err != nil || !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s differs between the uninterrupted and the resumed run (err %v)", name, err)
		}
	}
}

// TestFloat16EqualsFloat32Rounded: a --dtype float16 export holds every vector of the float32
// export rounded to the nearest float16, and says so in its metadata and index.
func TestFloat16EqualsFloat32Rounded(t *testing.T) {
	in, _ := framesDataset(t, 3, 2, 32)
	out32, out16 := t.TempDir(), t.TempDir()
	runExport(t, in, out32, 2)
	cfg := teacherConfig(t, in, out16, 2)
	cfg.DType = schemas.DTypeFloat16
	runConfig(t, cfg)
	_, want, _ := readExport(t, out32)
	idx, got, meta := readExport(t, out16)
	if idx.DType != schemas.DTypeFloat16 || meta[schemas.MetaDType] != schemas.DTypeFloat16 {
		t.Errorf("index dtype %q, file metadata %q: want float16", idx.DType, meta[schemas.MetaDType])
	}
	round := func(v []float32) []float32 { return schemas.Float32s(nil, schemas.F16Bits(nil, v)) }
	if len(got) != len(want) {
		t.Fatalf("%d float16 rows, %d float32 rows", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(got[i].Embedding, round(want[i].Embedding)) || !slices.Equal(got[i].FrameEmbeddings, round(want[i].FrameEmbeddings)) {
			t.Errorf("row %d: float16 vectors are not the float32 ones rounded:\n%v\n%v", i, got[i].Embedding, want[i].Embedding)
		}
	}
}

func shardNames(idx *Index) []string {
	var s []string
	for _, sh := range idx.Shards {
		s = append(s, sh.Name)
	}
	return s
}
