package shard

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/schemas/schematest"
)

// Benchmarks use the reference configuration (ViT-B/16 teacher at 224 px, 8 frames, 6 layers
// of 512 dims) with real frames decoded from testdata/videos/real (so frame compression is
// realistic) and random unit-scale float16 features (which, like real CLIP features, do not
// compress). Masks are drawn uniformly, which overlap less than attention-weighted ones, so
// the visible:M sizes are upper bounds. Run:
//
//	go test -run '^$' -bench . -benchtime 8x ./transforms/shard/

var benchLayouts = []struct{ name, layout, comp string }{
	{"full-lz4", "full", CompressLZ4},
	{"full-none", "full", CompressNone},
	{"visible4-lz4", "visible:4", CompressLZ4},
	{"visible1-lz4", "visible:1", CompressLZ4},
}

var (
	realFramesOnce sync.Once
	realFrames     [][]byte // 224×224×3 each
)

// loadRealFrames decodes 8 frames (2 per second, scaled and centre-cropped to 224×224) from
// each real clip in testdata/videos/real with the ffmpeg CLI, as prep would store them.
func loadRealFrames(b *testing.B) [][]byte {
	realFramesOnce.Do(func() {
		paths, _ := filepath.Glob(filepath.Join(testenv.Videos(b), "real", "*.mp4"))
		sort.Strings(paths)
		for _, p := range paths {
			out, err := exec.Command("ffmpeg", "-v", "error", "-i", p, "-vf",
				"fps=2,scale=224:224:force_original_aspect_ratio=increase,crop=224:224",
				"-frames:v", "8", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
			if err != nil {
				continue
			}
			for len(out) >= 224*224*3 {
				realFrames = append(realFrames, out[:224*224*3])
				out = out[224*224*3:]
			}
		}
	})
	if len(realFrames) < 8 {
		b.Skipf("decoded %d real frames from testdata/videos/real with the ffmpeg CLI, want ≥ 8 (is ffmpeg installed?)", len(realFrames))
	}
	return realFrames
}

// benchRows makes n ViT-B/16 rows with real frames.
func benchRows(b *testing.B, layout string, n int) (schemas.Provenance, []schemas.ClipRow) {
	p := schematest.ViTB16(layout)
	frames := loadRealFrames(b)
	var rows []schemas.ClipRow
	for i := 0; i < n; i++ {
		r := schematest.Row(p, uint64(i+1))
		for t := 0; t < p.Frames; t++ {
			copy(r.Frames[t*224*224*3:], frames[(i+t)%len(frames)])
		}
		rows = append(rows, r)
	}
	return p, rows
}

func logicalBytes(r schemas.ClipRow) int64 {
	return int64(len(r.Frames) + 2*len(r.TeacherFeatures) + 2*len(r.TeacherCLSAttn) + 4*len(r.TeacherTokens) + 4*len(r.Masks))
}

// BenchmarkWrite: clips written, verified and committed to a local shard; MB/s of clip data.
func BenchmarkWrite(b *testing.B) {
	for _, l := range benchLayouts {
		b.Run(l.name, func(b *testing.B) {
			_, rows := benchRows(b, l.layout, 8)
			p := schematest.ViTB16(l.layout)
			b.SetBytes(logicalBytes(rows[0]))
			dir := b.TempDir()
			store := openStore(b, dir)
			ctx := context.Background()
			b.ResetTimer()
			w, err := NewWriter(store, p, WriterOptions{Key: "bench", Compression: l.comp})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				r := rows[i%len(rows)]
				r.ClipID = schemas.ClipID(r.SourceURI, float64(i), float64(i+1), "bench")
				if err := w.Write(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			infos, err := w.Close(ctx)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			var disk int64
			for _, in := range infos {
				disk += in.Bytes
			}
			b.ReportMetric(float64(disk)/float64(b.N), "disk_B/clip")
			b.ReportMetric(float64(logicalBytes(rows[0])), "logical_B/clip")
		})
	}
}

// benchDataset writes a committed dataset of n clips once per layout.
func benchDataset(b *testing.B, layout, comp string, n int) string {
	dir, err := os.MkdirTemp("", "umt-shard-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	p, rows := benchRows(b, layout, n)
	writeAll(b, openStore(b, dir), p, rows, []string{"bench"}, WriterOptions{Compression: comp})
	if _, err := CommitIndex(context.Background(), dir, IndexOptions{}); err != nil {
		b.Fatal(err)
	}
	return dir
}

// consume copies a row's tensors into loader-sized buffers, as a training loader does.
func consume(dst []byte, dst16 []uint16, r schemas.ClipRow) {
	copy(dst, r.Frames)
	copy(dst16, r.TeacherFeatures)
}

// BenchmarkRowRandom: Row(i) for random i over a warm local dataset (batch cache of one, so
// nearly every call decodes a batch), tensors copied out; clips/s.
func BenchmarkRowRandom(b *testing.B) {
	for _, l := range benchLayouts {
		b.Run(l.name, func(b *testing.B) {
			dir := benchDataset(b, l.layout, l.comp, 16)
			ctx := context.Background()
			ds, err := Open(ctx, dir, OpenOptions{CacheBatches: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer ds.Close()
			buf, buf16 := make([]byte, 224*224*3*8), make([]uint16, 6*1568*512)
			rng := rand.New(rand.NewPCG(1, 2))
			ds.Scan(ctx, func(int, schemas.ClipRow) error { return nil }) // warm the page cache
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				r, err := ds.Row(ctx, rng.IntN(ds.Len()))
				if err != nil {
					b.Fatal(err)
				}
				consume(buf, buf16, r)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "clips/s")
		})
	}
}

// BenchmarkScan: one op is a sequential Scan of the whole warm local dataset with tensors
// copied out; MB/s of clip data.
func BenchmarkScan(b *testing.B) {
	for _, l := range benchLayouts {
		b.Run(l.name, func(b *testing.B) {
			const n = 16
			dir := benchDataset(b, l.layout, l.comp, n)
			ctx := context.Background()
			ds, err := Open(ctx, dir)
			if err != nil {
				b.Fatal(err)
			}
			defer ds.Close()
			buf, buf16 := make([]byte, 224*224*3*8), make([]uint16, 6*1568*512)
			var total int64
			ds.Scan(ctx, func(_ int, r schemas.ClipRow) error { total += logicalBytes(r); return nil })
			b.SetBytes(total)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				err := ds.Scan(ctx, func(_ int, r schemas.ClipRow) error { consume(buf, buf16, r); return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
