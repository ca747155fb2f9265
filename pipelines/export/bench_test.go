package export

import (
	"context"
	"testing"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/shard"
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
