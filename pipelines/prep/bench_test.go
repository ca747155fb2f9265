package prep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/models/clip"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// benchManifest lists the first n good corpus files under 400 KB, each as spans clips: the
// whole file and spans-1 more starting 0.25 s apart (distinct clips of the same video), so a
// run is long enough for the per-clip cost, not the job's fixed start-up, to dominate.
func benchManifest(b *testing.B, n, spans int) (string, string) {
	root, all := corpus(b)
	var pick []truth
	for _, e := range all {
		if e.Expect == "ok" && e.SizeBytes < 400_000 && len(pick) < n {
			pick = append(pick, e)
		}
	}
	p := filepath.Join(b.TempDir(), "bench.jsonl")
	f, _ := os.Create(p)
	for s := 0; s < spans; s++ {
		for _, e := range pick {
			fmt.Fprintf(f, "{\"uri\": %q, \"label\": \"0\", \"start\": %g}\n", e.Path, float64(s)*0.25)
		}
	}
	f.Close()
	return p, root
}

// writeRandomB16 writes ViT-B/16 teacher weights drawn from a seed (clip.RandomWeights) in
// OpenAI naming, so the benchmark runs the real teacher size without downloading weights.
func writeRandomB16(b *testing.B) string {
	path := filepath.Join(b.TempDir(), "vit_b16_random.safetensors")
	if err := clip.WriteRandom(path, clip.ViTB16, 7); err != nil {
		b.Fatal(err)
	}
	return path
}

// plainLoop runs the same transforms as the pipeline in one Go loop: read the manifest,
// sample, teacher in batches, select tokens, write shards, failures and the index.
func plainLoop(b *testing.B, user Config) int {
	ctx := context.Background()
	cfg, err := Prepare(ctx, user)
	if err != nil {
		b.Fatal(err)
	}
	rows, err := manifest.ReadAll(ctx, cfg.Manifest, manifest.Options{Root: cfg.Root})
	if err != nil {
		b.Fatal(err)
	}
	t, _, err := loadTeacher(cfg.Teacher, "", cfg.TeacherConfig, cfg.BatchClips*cfg.Frames, cfg.Workers, "cpu")
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	st, err := storage.OpenStore(ctx, cfg.Output)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	w, err := shard.NewWriter(st, cfg.Provenance, shard.WriterOptions{Key: "loop", Compression: cfg.Compression})
	if err != nil {
		b.Fatal(err)
	}
	var batch []Decoded
	var fails []schemas.FailureRow
	ok := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		for _, d := range batch { // one clip per call, as the pipeline's CPU teacher runs (teacher.go encode)
			feats, attn, err := t.Encode(d.Frames, 1, cfg.Frames, cfg.Size, cfg.Size)
			if err != nil {
				b.Fatal(err)
			}
			row, err := newRowMaker(cfg).one(d, feats, attn)
			if err != nil {
				b.Fatal(err)
			}
			if err := w.Write(ctx, row); err != nil {
				b.Fatal(err)
			}
			ok++
		}
		batch = nil
	}
	for _, r := range rows {
		id := schemas.ClipID(r.URI, r.Start, r.End, cfg.SamplerString())
		c, err := video.Sample(ctx, video.FileSource(r.URI), cfg.SampleConfig(id, r.Start, r.End))
		if err != nil {
			fails = append(fails, schemas.FailureRow{URI: r.URI, ClipID: id, ErrorClass: video.Class(err), Message: err.Error(), Stage: schemas.StageDecode, Attempt: 1})
			continue
		}
		batch = append(batch, Decoded{Work: Work{Row: r, ClipID: id}, Frames: c.Frames, FramePTS: c.PTS, FrameTimeS: c.TimeS})
		if len(batch) == cfg.BatchClips {
			flush()
		}
	}
	flush()
	if _, err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := shard.WriteFailures(ctx, st, "loop", fails); err != nil {
		b.Fatal(err)
	}
	prov := cfg.Provenance
	if _, err := shard.CommitIndex(ctx, cfg.Output, shard.IndexOptions{Provenance: &prov}); err != nil {
		b.Fatal(err)
	}
	return ok
}

// BenchmarkPrep measures clips/s end to end on Prism (in-process) and in a plain Go loop over
// the same transforms, with the tiny teacher and with ViT-B/16 (random weights), and as two jobs
// (--phase=frames then --phase=teacher, clips/s over both).
// Overhead ratio = pipeline clips/s ÷ loop clips/s (docs/bench/prep.md).
func BenchmarkPrep(b *testing.B) {
	for _, tc := range []struct {
		name    string
		clips   int
		spans   int
		teacher func(*testing.B) string
		frames  int
		size    int
		res     int
	}{
		{"tiny", 12, 4, func(b *testing.B) string {
			return filepath.Join(testenv.RefData(b), "teacher_tiny_openai.safetensors")
		}, 8, 224, 64},
		{"b16", 4, 1, writeRandomB16, 8, 224, 224},
	} {
		m, root := benchManifest(b, tc.clips, tc.spans)
		teacher := tc.teacher(b)
		mk := func(out string) Config {
			c := Defaults()
			c.Manifest, c.Root, c.Output, c.Teacher = m, root, out, teacher
			c.Frames, c.Size, c.TeacherConfig.Resolution = tc.frames, tc.size, tc.res
			return c
		}
		for _, mode := range []string{"pipeline", "loop", "twophase"} {
			b.Run(tc.name+"/"+mode, func(b *testing.B) {
				var clips int
				var elapsed time.Duration
				for i := 0; i < b.N; i++ {
					out := filepath.Join(b.TempDir(), "ds")
					start := time.Now()
					switch mode {
					case "pipeline":
						rep, err := prepareRun(context.Background(), mk(out))
						if err != nil {
							b.Fatal(err)
						}
						clips += int(rep.OK)
					case "twophase": // --phase=frames, then --phase=teacher over its dataset
						fc := mk(out + "-frames")
						fc.Phase, fc.Teacher = PhaseFrames, ""
						if _, err := prepareRun(context.Background(), fc); err != nil {
							b.Fatal(err)
						}
						tc := mk(out)
						tc.Phase, tc.Manifest = PhaseTeacher, fc.Output
						rep, err := prepareRun(context.Background(), tc)
						if err != nil {
							b.Fatal(err)
						}
						clips += int(rep.OK)
					default:
						clips += plainLoop(b, mk(out))
					}
					elapsed += time.Since(start)
				}
				b.ReportMetric(float64(clips)/elapsed.Seconds(), "clips/s")
			})
		}
	}
}
