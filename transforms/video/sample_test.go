package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func corpusFile(t testing.TB, rel string) string {
	t.Helper()
	dir := testenv_videos(t)
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus file %s: %v (UMT_VIDEOS points at a set without it)", rel, err)
	}
	return p
}

func testenv_videos(t testing.TB) string { d, _ := loadCorpus(t); return d }

func readerSource(t testing.TB, path string) Source {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return ReaderSource(filepath.Base(path), bytes.NewReader(b), int64(len(b)))
}

// Every corpus entry through Sample: bad inputs get their class (as Probe), ok files give
// identical clips from a file with seeking and from custom I/O with a sequential pass (rand,
// seeded from the path). middle (evenly spread targets, which once sent a B-frame file into a
// seek loop) runs with seeking only. A 30 s deadline turns any loop into a failure.
func TestCorpusSampleFileVsReader(t *testing.T) {
	dir, entries := loadCorpus(t)
	for _, e := range entries {
		for _, smp := range []string{"rand", "middle"} {
			name := e.Path + "/" + smp
			if e.HasSpan() {
				a, b := e.Span()
				name += fmt.Sprintf("/span_%g_%g", a, b)
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(dir, e.Path)
				cfg := DefaultSampleConfig()
				cfg.Sampler, cfg.Seed, cfg.Size, cfg.Frames = smp, SeedFor(e.Path), 48, 6
				cfg.Deadline = 30 * time.Second
				cfg.Start, cfg.End = e.Span()
				if e.Expect == "ok" && smp == "middle" {
					cfg.OnMissing = "pad" // an ok entry needs no padding: check that none happens
				}
				a, errA := Sample(context.Background(), FileSource(path), cfg)
				if errA == nil && a.Padded > 0 && !e.Padded {
					t.Fatalf("%d of %d frames padded (targets %v, missing %v), but the entry is whole", a.Padded, len(a.Missing), a.Targets, a.Missing)
				}
				okClass := false
				for _, c := range acceptable(e) {
					okClass = okClass || string(Class(errA)) == c
				}
				if !okClass {
					t.Fatalf("Sample class %q (%v), want %q", Class(errA), errA, e.Expect)
				}
				if e.Expect == "missing" || smp == "middle" {
					return // the sequential cross-check runs once per file, with rand
				}
				cfg.Seek = "never"
				b, errB := Sample(context.Background(), readerSource(t, path), cfg)
				if Class(errA) != Class(errB) {
					t.Fatalf("file+seek class %q, reader+sequential class %q (%v)", Class(errA), Class(errB), errB)
				}
				if errA != nil {
					return
				}
				if !bytes.Equal(a.Frames, b.Frames) || fmt.Sprint(a.PTS) != fmt.Sprint(b.PTS) {
					t.Fatalf("file+seek pts %v vs reader+sequential pts %v (frames equal: %v)", a.PTS, b.PTS, bytes.Equal(a.Frames, b.Frames))
				}
				if len(a.Frames) != 6*48*48*3 {
					t.Fatalf("frames %d bytes, want 6×48×48×3", len(a.Frames))
				}
				for i, ts := range a.TimeS {
					if ts < a.Targets[i]-1e-3 && i < len(a.TimeS)-1 {
						t.Errorf("frame %d at %.4f s precedes its target %.4f s", i, ts, a.Targets[i])
					}
				}
			})
		}
	}
	assertNoLiveObjects(t)
}

func TestTruncatedFailOrPad(t *testing.T) {
	path := corpusFile(t, "bad/truncated_50pct_faststart.mp4") // 6 s claimed, 75 of 150 frames present
	cfg := DefaultSampleConfig()
	cfg.Size = 32
	_, err := Sample(context.Background(), FileSource(path), cfg)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("OnMissing fail: err %v, want ErrTruncated", err)
	}
	cfg.OnMissing = "pad"
	clip, err := Sample(context.Background(), FileSource(path), cfg)
	if err != nil {
		t.Fatalf("OnMissing pad: %v", err)
	}
	// middle of 8 segments of 150 frames: frames 9, 28, ... 140; the first four (< 75) exist
	wantMissing := []bool{false, false, false, false, true, true, true, true}
	if fmt.Sprint(clip.Missing) != fmt.Sprint(wantMissing) || clip.Padded != 4 {
		t.Fatalf("missing %v padded %d, want %v and 4", clip.Missing, clip.Padded, wantMissing)
	}
	fb := clip.Width * clip.Height * 3
	for k := 4; k < 8; k++ {
		if !bytes.Equal(clip.Frames[k*fb:(k+1)*fb], clip.Frames[3*fb:4*fb]) || clip.PTS[k] != clip.PTS[3] {
			t.Errorf("padded frame %d is not a copy of frame 3", k)
		}
	}
	assertNoLiveObjects(t)
}

func TestDeadline(t *testing.T) {
	path := corpusFile(t, "real/webrtc_chrome.mp4")
	b, _ := os.ReadFile(path)
	slow := ReaderSource("slow.mp4", slowReader{bytes.NewReader(b), 20 * time.Millisecond}, int64(len(b)))
	cfg := DefaultSampleConfig()
	cfg.Seek, cfg.Deadline = "never", 300*time.Millisecond
	start := time.Now()
	_, err := Sample(context.Background(), slow, cfg)
	if Class(err) != "timeout" {
		t.Fatalf("err %v (class %q), want timeout", err, Class(err))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("deadline 300ms took %v to fire", el)
	}
	// context cancellation takes the same path
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	cfg.Deadline = 0
	if _, err := Sample(ctx, slow, cfg); Class(err) != "timeout" {
		t.Fatalf("cancelled: err %v, want class timeout", err)
	}
	// a local file: decoding 4K frames one by one outlasts a 100 ms deadline
	cfg.Deadline = 100 * time.Millisecond
	start = time.Now()
	if _, err := Sample(context.Background(), FileSource(corpusFile(t, "synthetic/h264_4k_3840x2160_25fps_1s.mp4")), cfg); Class(err) != "timeout" {
		t.Fatalf("4K file with 100 ms: err %v, want class timeout", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("deadline 100ms on a file took %v to fire", el)
	}
	assertNoLiveObjects(t)
}

type slowReader struct {
	r *bytes.Reader
	d time.Duration
}

func (s slowReader) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.d)
	return s.r.ReadAt(p, off)
}

func TestLimits(t *testing.T) {
	path := corpusFile(t, "synthetic/h264_4k_3840x2160_25fps_1s.mp4")
	cases := []struct {
		name string
		lim  Limits
	}{
		{"pixels", Limits{MaxPixels: 1920 * 1080}},
		{"duration", Limits{MaxDurationS: 0.5}},
		{"decoded bytes", Limits{MaxDecodedBytes: 20 << 20}},
		{"output bytes", Limits{MaxOutputBytes: 1000}},
	}
	for _, c := range cases {
		cfg := DefaultSampleConfig()
		cfg.Limits = c.lim
		cfg.Seek = "never"
		if _, err := Sample(context.Background(), FileSource(path), cfg); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err %v, want ErrTooLarge", c.name, err)
		}
	}
	assertNoLiveObjects(t)
}

func TestSpan(t *testing.T) {
	path := corpusFile(t, "synthetic/h264_long60s_192x108_10fps_aac.mp4")
	cfg := DefaultSampleConfig()
	cfg.Size, cfg.Start, cfg.End = 32, 20, 30
	for _, smp := range []string{"middle", "rand", "segment", "fps1"} {
		cfg.Sampler = smp
		clip, err := Sample(context.Background(), FileSource(path), cfg)
		if err != nil {
			t.Fatalf("%s: %v", smp, err)
		}
		for i, ts := range clip.TimeS {
			if ts < 20-1e-9 || ts >= 30 {
				t.Errorf("%s: frame %d at %.3f s outside the span [20, 30)", smp, i, ts)
			}
		}
		if smp == "fps1" && len(clip.TimeS) != 8 { // 10 slots in the span, capped at Frames=8
			t.Errorf("fps1 over 10 s with Frames 8: %d frames", len(clip.TimeS))
		}
	}
	cfg.Sampler, cfg.Start, cfg.End = "middle", 70, 0
	if _, err := Sample(context.Background(), FileSource(path), cfg); !errors.Is(err, ErrBadConfig) && !errors.Is(err, ErrBadSpan) {
		t.Errorf("span after the end: err %v, want ErrBadConfig", err)
	}
}

// ffmpegRGB runs the ffmpeg CLI and returns one raw rgb24 frame.
func ffmpegRGB(t testing.TB, path, ss, vf string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("the ffmpeg CLI is needed for this comparison; run scripts/setup.sh: %v", err)
	}
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-ss", ss, "-i", path, "-frames:v", "1",
		"-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	return out
}

// Modes without reference PNGs, checked against the ffmpeg CLI on the same machine:
// max-side (no crop), FixSAR, another interpolation, no autorotation of a rotated file,
// and an output size that is not 224. All must be bit-exact (same swscale calls).
func TestRenderModesVsFFmpeg(t *testing.T) {
	cases := []struct {
		file string
		mut  func(*SampleConfig)
		vf   string
	}{
		{"synthetic/h264_sar4x3_480x360.mp4", func(c *SampleConfig) { c.FixSAR = true },
			"scale=w=398:h=224:flags=bicubic,crop=224:224,format=rgb24"},
		{"synthetic/h264_portrait_360x640_30fps.mp4", func(c *SampleConfig) { c.Crop = false; c.Size = 160 },
			"scale=w=90:h=160:flags=bicubic,format=rgb24"},
		{"synthetic/h264_rot270_640x360.mov", func(c *SampleConfig) { c.Crop = false; c.Size = 100 },
			"scale=w=56:h=100:flags=bicubic,format=rgb24"},
		{"real/mdn_flower.mp4", func(c *SampleConfig) { c.Interp = "bilinear"; c.Size = 96 },
			"scale=w=171:h=96:flags=bilinear,crop=96:96,format=rgb24"},
		{"synthetic/h264_high444_yuv444p_640x360.mkv", func(c *SampleConfig) { c.Interp = "lanczos" },
			"scale=w=398:h=224:flags=lanczos,crop=224:224,format=rgb24"},
		{"synthetic/mjpeg_320x240_15fps.avi", func(c *SampleConfig) {},
			"scale=w=299:h=224:flags=bicubic,crop=224:224,format=rgb24"},
		{"synthetic/prores_proxy_320x180_24fps.mov", func(c *SampleConfig) {},
			"scale=w=398:h=224:flags=bicubic,crop=224:224,format=rgb24"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			path := corpusFile(t, c.file)
			cfg := DefaultSampleConfig()
			cfg.Sampler = "at:0.5"
			c.mut(&cfg)
			clip, err := Sample(context.Background(), FileSource(path), cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := ffmpegRGB(t, path, "0.5", c.vf)
			if len(want) != len(clip.Frames) {
				t.Fatalf("ffmpeg gave %d bytes, we %d (%dx%d)", len(want), len(clip.Frames), clip.Width, clip.Height)
			}
			if p, maxd := psnr(clip.Frames, want); maxd != 0 {
				t.Errorf("not bit-exact vs ffmpeg -vf %s: PSNR %.2f dB, max abs diff %d", c.vf, p, maxd)
			}
		})
	}
}

// With the format list off, MPEG-TS is sought like MP4. FFmpeg 5.1's TS seek can land after
// the keyframe (the decoder then resumes at the next one), which only the overshoot check can
// notice. Over many random targets in a generated 12 s TS file (GOP 15), seeking must give
// exactly the frames of a sequential pass.
func TestSeekOvershootFallback(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg CLI needed (scripts/setup.sh): %v", err)
	}
	path := filepath.Join(t.TempDir(), "gop15.ts")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=12",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-bf", "2", "-pix_fmt", "yuv420p", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	seqByFormat = false
	defer func() { seqByFormat = true }()
	modes := map[string]int{}
	for seed := uint64(0); seed < 6; seed++ {
		cfg := DefaultSampleConfig()
		cfg.Sampler, cfg.Seed, cfg.Size, cfg.Frames = "rand", seed, 32, 8
		a, err := Sample(context.Background(), FileSource(path), cfg)
		if err != nil {
			t.Fatal(err)
		}
		modes[a.SeekMode]++
		cfg.Seek = "never"
		b, err := Sample(context.Background(), FileSource(path), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(a.PTS) != fmt.Sprint(b.PTS) || !bytes.Equal(a.Frames, b.Frames) {
			t.Errorf("seed %d: seek (%s) pts %v, sequential pts %v", seed, a.SeekMode, a.PTS, b.PTS)
		}
	}
	t.Logf("seek modes over 6 calls: %v", modes)
}

func TestSeekerSource(t *testing.T) {
	path := corpusFile(t, "synthetic/h264_main_bf3_1280x720_30fps_moovend_aac.mp4")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := SeekerSource("bf3.mp4", f)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultSampleConfig()
	cfg.Size = 64
	a, err := Sample(context.Background(), src, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sample(context.Background(), FileSource(path), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Frames, b.Frames) {
		t.Errorf("SeekerSource and FileSource differ")
	}
	if a.Info.Container != "mp4" {
		t.Errorf("container %q from the name's extension, want mp4", a.Info.Container)
	}
}
