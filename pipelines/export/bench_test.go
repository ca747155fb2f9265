package export

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/video"
)

// benchCase is one teacher size of the export benchmarks: clips of 8 frames of size² pixels,
// group clips per shard, the teacher's kernels on threads threads.
type benchCase struct {
	name                        string
	clips, size, group, threads int
	teacher                     func(testing.TB) (string, clip.Config)
}

var benchCases = []benchCase{
	// tiny reference teacher, one thread per model: the pipeline's fixed cost dominates
	{"tiny", 192, 64, 16, 1, tinyTeacher},
	// ViT-B/16 (random weights of the real shape): ~1 s of teacher per frame on a 2-vCPU CPU
	{"b16", 8, 224, 4, 2, randomB16},
}

func randomB16(t testing.TB) (string, clip.Config) {
	path := filepath.Join(t.TempDir(), "vit_b16_random.safetensors")
	if err := clip.WriteRandom(path, clip.ViTB16, 7); err != nil {
		t.Fatal(err)
	}
	return path, clip.Config{}
}

func (bc benchCase) plan(b *testing.B, in string) Plan {
	spec, tc := bc.teacher(b)
	cfg := Defaults()
	cfg.Input, cfg.Output, cfg.Teacher, cfg.TeacherConfig = in, b.TempDir(), spec, tc
	cfg.GroupClips, cfg.Threads = bc.group, bc.threads
	plan, err := Prepare(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return plan
}

// BenchmarkExport runs the export pipeline (Prism in-process) over the case's clips; the
// clock runs from Run's start (job submission, model load) to its committed index.
func BenchmarkExport(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in, _ := framesDataset(b, bc.clips, 8, bc.size)
			plan := bc.plan(b, in)
			var wall float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				plan.Output = b.TempDir()
				rep, err := Run(context.Background(), plan)
				if err != nil {
					b.Fatal(err)
				}
				if !rep.Accounted || rep.OK != int64(bc.clips) {
					b.Fatalf("report %+v: want every row exported", rep)
				}
				wall += rep.WallS
			}
			b.ReportMetric(float64(bc.clips*b.N)/wall, "clips/s")
		})
	}
}

// BenchmarkPlainLoop is the same work without Beam, one goroutine: load the model, read each
// row, run the teacher, average, encode the Parquet shards.
func BenchmarkPlainLoop(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in, _ := framesDataset(b, bc.clips, 8, bc.size)
			plan := bc.plan(b, in)
			var wall float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				plainLoop(b, plan, in)
				wall += time.Since(start).Seconds()
			}
			b.ReportMetric(float64(bc.clips*b.N)/wall, "clips/s")
		})
	}
}

func plainLoop(b *testing.B, plan Plan, in string) {
	ctx := context.Background()
	e, err := newTeacherEmbedder(ctx, plan)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ds, err := shard.Open(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Close()
	var rows []schemas.EmbeddingRow
	for j := 0; j < ds.Len(); j++ {
		r, err := ds.Row(ctx, j)
		if err != nil {
			b.Fatal(err)
		}
		out, err := e.Embed(r)
		if err != nil {
			b.Fatal(err)
		}
		if rows = append(rows, out); len(rows) == plan.GroupClips || j == ds.Len()-1 {
			if _, err := EncodeParquet(plan.Info, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
}

// benchManifest lists up to n small good corpus videos as a manifest (8 frames of 64², the tiny
// teacher).
func benchManifest(b *testing.B, n int) (Config, []manifest.Row) {
	root, all := testenv.Corpus(b)
	var entries []testenv.CorpusEntry
	for _, e := range all {
		if e.Expect == "ok" && !e.HasSpan() && e.SizeBytes < 400_000 && len(entries) < n {
			entries = append(entries, e)
		}
	}
	m := writeManifest(b, entries)
	cfg := manifestConfig(b, m, root, "")
	cfg.Sampling.Frames, cfg.GroupClips = 8, 16
	rows, err := manifest.ReadAll(context.Background(), m, manifest.Options{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	return cfg, rows[:len(entries)]
}

// BenchmarkExportManifest runs the export pipeline from a manifest of corpus videos: decode,
// sample, teacher, shards, failures (the manifest's malformed row and duplicate).
func BenchmarkExportManifest(b *testing.B) {
	cfg, rows := benchManifest(b, 24)
	for i := 0; i < b.N; i++ {
		cfg.Output = b.TempDir()
		rep := mustExport(b, cfg)
		b.ReportMetric(float64(len(rows))/rep.WallS, "clips/s")
	}
}

// BenchmarkPlainLoopManifest is the same decode and model work without Beam, one goroutine:
// sample each video as prep does, run the teacher, encode the Parquet shards.
func BenchmarkPlainLoopManifest(b *testing.B) {
	ctx := context.Background()
	cfg, rows := benchManifest(b, 24)
	cfg.Output = b.TempDir()
	plan, err := Prepare(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := newTeacherEmbedder(ctx, plan)
		if err != nil {
			b.Fatal(err)
		}
		var out []schemas.EmbeddingRow
		for _, r := range rows {
			id := schemas.ClipID(r.URI, r.Start, r.End, cfg.Sampling.String())
			c, err := video.SampleEntry(ctx, r.URI, false, cfg.Sampling.For(id, r.Start, r.End))
			if err != nil {
				b.Fatal(err)
			}
			er, err := e.Embed(schemas.ClipRow{ClipID: id, SourceURI: r.URI, Frames: c.Frames, FramePTS: c.PTS, FrameTimeS: c.TimeS})
			if err != nil {
				b.Fatal(err)
			}
			if out = append(out, er); len(out) == cfg.GroupClips {
				if _, err := EncodeParquet(plan.Info, out); err != nil {
					b.Fatal(err)
				}
				out = out[:0]
			}
		}
		e.Close()
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "clips/s")
}
