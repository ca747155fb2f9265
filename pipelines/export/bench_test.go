package export

import (
	"context"
	"testing"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/video"
)

const benchClips, benchT, benchS = 192, 8, 64

// BenchmarkExport runs the export pipeline (Prism in-process, one thread per model) over
// benchClips clips of 8 frames with the tiny reference teacher.
func BenchmarkExport(b *testing.B) {
	in, _ := framesDataset(b, benchClips, benchT, benchS)
	for i := 0; i < b.N; i++ {
		rep := runExport(b, in, b.TempDir(), 16)
		b.ReportMetric(float64(benchClips)/rep.WallS, "clips/s")
	}
}

// BenchmarkPlainLoop is the same work without Beam: read each row, run the teacher, average,
// encode the Parquet shards, one goroutine.
func BenchmarkPlainLoop(b *testing.B) {
	ctx := context.Background()
	in, _ := framesDataset(b, benchClips, benchT, benchS)
	spec, tc := tinyTeacher(b)
	cfg := Defaults()
	cfg.Input, cfg.Output, cfg.Teacher, cfg.TeacherConfig, cfg.Threads = in, b.TempDir(), spec, tc, 1
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
		ds, err := shard.Open(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
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
			rows = append(rows, out)
			if len(rows) == 16 {
				if _, err := EncodeParquet(plan.Info, rows); err != nil {
					b.Fatal(err)
				}
				rows = rows[:0]
			}
		}
		ds.Close()
		e.Close()
	}
	b.ReportMetric(float64(benchClips*b.N)/b.Elapsed().Seconds(), "clips/s")
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
	cfg.Sampling.Frames, cfg.GroupClips = benchT, 16
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
