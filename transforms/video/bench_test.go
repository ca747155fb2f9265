package video

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Benchmarks for docs/bench/video.md. The 60 s 720p long-GOP H.264 file is generated with the
// ffmpeg CLI on first use into $TMPDIR (kept for later runs; never committed):
//
//	go test ./transforms/video -run '^$' -bench . -benchtime 3x
//
// Each benchmark has an ffmpeg CLI counterpart in the same run (sub-benchmark "ffmpeg_cli").
// BenchmarkSampleImage reads the committed fixture testdata/images/jpeg_320x240_yuvj420p.jpg.

const longGOPArgs = "testsrc2=size=1280x720:rate=30:duration=60"

func longGOPFile(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Fatalf("ffmpeg CLI needed to generate the benchmark file (scripts/setup.sh): %v", err)
	}
	path := filepath.Join(os.TempDir(), "umt-bench-720p-60s-gop250-bf3.mp4")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".part.mp4"
	// x264 defaults: keyint 250 (8.3 s GOPs), 3 B-frames; veryfast only to keep generation short.
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", longGOPArgs,
		"-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-bf", "3", "-crf", "26", "-pix_fmt", "yuv420p", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		b.Fatalf("generating %s: %v\n%s", path, err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// The box running benchmarks may be shared, so every figure is also reported per CPU
// second: our process's user+system time (getrusage), the CLI's from its ProcessState.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runCLI runs ffmpeg and returns its stdout and CPU time.
func runCLI(b *testing.B, args ...string) ([]byte, time.Duration) {
	b.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error", "-threads", "1"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("ffmpeg %v: %v", args, err)
	}
	return out, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func ffmpegNull(b *testing.B, path string) time.Duration {
	_, cpu := runCLI(b, "-i", path, "-f", "null", "-")
	return cpu
}

// (a) 8 middle frames, 224² crop, from the 60 s 720p long-GOP file, vs a full CLI decode.
func BenchmarkSample8LongGOP(b *testing.B) {
	path := longGOPFile(b)
	b.Run("umt_sample8", func(b *testing.B) {
		cfg := DefaultSampleConfig()
		frames := 0
		cpu0 := selfCPU()
		for i := 0; i < b.N; i++ {
			clip, err := Sample(context.Background(), FileSource(path), cfg)
			if err != nil {
				b.Fatal(err)
			}
			frames += clip.FramesDecoded
		}
		b.ReportMetric(float64(frames)/float64(b.N), "frames_decoded/op")
		b.ReportMetric((selfCPU()-cpu0).Seconds()/float64(b.N), "cpu_s/op")
	})
	b.Run("ffmpeg_cli_full_decode", func(b *testing.B) {
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			cpu += ffmpegNull(b, path)
		}
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu_s/op")
	})
}

// (b) full sequential decode, one thread: frames/s, vs `ffmpeg -threads 1 -i F -f null -`.
func BenchmarkFullDecode(b *testing.B) {
	path := longGOPFile(b)
	b.Run("umt_decode", func(b *testing.B) {
		frames := 0
		start, cpu0 := time.Now(), selfCPU()
		for i := 0; i < b.N; i++ {
			frames += decodeAll(b, path)
		}
		b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "frames/s")
		b.ReportMetric(float64(frames)/(selfCPU()-cpu0).Seconds(), "frames/cpu_s")
	})
	b.Run("ffmpeg_cli", func(b *testing.B) {
		start := time.Now()
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			cpu += ffmpegNull(b, path)
		}
		b.ReportMetric(1800*float64(b.N)/time.Since(start).Seconds(), "frames/s")
		b.ReportMetric(1800*float64(b.N)/cpu.Seconds(), "frames/cpu_s")
	})
}

func decodeAll(b *testing.B, path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	in, err := openInput(ctx, FileSource(path))
	if err != nil {
		b.Fatal(err)
	}
	defer in.close()
	if _, err := in.probe(DefaultLimits); err != nil {
		b.Fatal(err)
	}
	dec, err := newDecoder(in, 1, DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	defer dec.close()
	n := 0
	for {
		err := dec.next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// (c) decode + resize + crop: clips/s on one core, 8 middle frames at 224², over the real
// clips of the corpus (480×270 to 960×540, 3–30 s), vs the CLI producing the same 8 frames
// (one `ffmpeg -ss t -i F -frames:v 1 -vf scale,crop` per frame, as a script would).
func BenchmarkClips(b *testing.B) {
	dir, entries := loadCorpus(b)
	var paths []string
	for _, e := range entries {
		if e.Expect == "ok" && filepath.Dir(e.Path) == "real" {
			paths = append(paths, filepath.Join(dir, e.Path))
		}
	}
	cfg := DefaultSampleConfig()
	b.Run("umt_sample8", func(b *testing.B) {
		start, cpu0 := time.Now(), selfCPU()
		for i := 0; i < b.N; i++ {
			for _, p := range paths {
				if _, err := Sample(context.Background(), FileSource(p), cfg); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*len(paths))/time.Since(start).Seconds(), "clips/s")
		b.ReportMetric(float64(b.N*len(paths))/(selfCPU()-cpu0).Seconds(), "clips/cpu_s")
	})
	targets := make([][]float64, len(paths))
	for i, p := range paths {
		clip, err := Sample(context.Background(), FileSource(p), cfg)
		if err != nil {
			b.Fatal(err)
		}
		targets[i] = clip.Targets
	}
	b.Run("ffmpeg_cli_8_seeks", func(b *testing.B) {
		start := time.Now()
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			for k, p := range paths {
				for _, t := range targets[k] {
					out, c := runCLI(b, "-ss", ftoa(t), "-i", p, "-frames:v", "1",
						"-vf", "scale=w='if(lte(iw,ih),224,-1)':h='if(lte(iw,ih),-1,224)':flags=bicubic,crop=224:224",
						"-f", "rawvideo", "-pix_fmt", "rgb24", "-")
					cpu += c
					if len(out) == 0 {
						b.Fatalf("ffmpeg at %s gave no frame", ftoa(t))
					}
				}
			}
		}
		b.ReportMetric(float64(b.N*len(paths))/time.Since(start).Seconds(), "clips/s")
		b.ReportMetric(float64(b.N*len(paths))/cpu.Seconds(), "clips/cpu_s")
	})
}

func ftoa(t float64) string { return strconv.FormatFloat(t, 'f', 6, 64) }

// (d) one still image: the 320×240 JPEG fixture (yuvj420p) → 224² crop through SampleImage,
// vs the ffmpeg CLI rendering the same frame with the reference command (what a script that
// shells out per image would pay: process start, probe, decode, scale, crop).
func BenchmarkSampleImage(b *testing.B) {
	path := filepath.Join(imagesDir, "jpeg_320x240_yuvj420p.jpg")
	b.Run("umt_sample_image", func(b *testing.B) {
		cfg := DefaultSampleConfig()
		start, cpu0 := time.Now(), selfCPU()
		for i := 0; i < b.N; i++ {
			if _, err := SampleImage(context.Background(), FileSource(path), cfg); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "images/s")
		b.ReportMetric(float64(b.N)/(selfCPU()-cpu0).Seconds(), "images/cpu_s")
	})
	b.Run("ffmpeg_cli", func(b *testing.B) {
		start := time.Now()
		var cpu time.Duration
		for i := 0; i < b.N; i++ {
			out, c := runCLI(b, "-i", path, "-frames:v", "1",
				"-vf", "scale=w='if(lte(iw,ih),224,-1)':h='if(lte(iw,ih),-1,224)':flags=bicubic,crop=224:224,format=rgb24",
				"-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
			cpu += c
			if len(out) != 224*224*3 {
				b.Fatalf("ffmpeg gave %d bytes", len(out))
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "images/s")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "images/cpu_s")
	})
}
