package video

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The still-image fixtures (testdata/images, made by gen.sh from corpus frames) and their
// manifest: good entries carry the sha256 of the ffmpeg CLI's rendering (short side to 224,
// bicubic, centre crop, rgb24); bad ones the class SampleImage must return.
const imagesDir = "testdata/images"

type imageEntry struct {
	Path   string `json:"path"`
	Expect string `json:"expect"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	PixFmt string `json:"pix_fmt"`
	SHA256 string `json:"rgb24_224_sha256"`
}

func loadImages(t testing.TB) []imageEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(imagesDir, "manifest.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []imageEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e imageEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("images manifest: %v", err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		t.Fatal("images manifest has no entries")
	}
	return out
}

// imageSources gives the three kinds of Source over one file: path, io.ReaderAt, io.ReadSeeker.
func imageSources(t testing.TB, path string) map[string]Source {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seek, err := SeekerSource(filepath.Base(path), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Source{
		"file":       FileSource(path),
		"readerat":   ReaderSource(filepath.Base(path), bytes.NewReader(b), int64(len(b))),
		"readseeker": seek,
	}
}

// Every fixture through SampleImage from all three Source kinds: good images are bit-exact
// with the ffmpeg CLI's rendering (including the PNG with alpha: the CLI's
// scale→crop→format=rgb24 chain and ours both make one swscale call rgba→rgb24, which drops
// alpha; nothing blends), bad ones get their class.
func TestSampleImageManifest(t *testing.T) {
	cfg := DefaultSampleConfig()
	for _, e := range loadImages(t) {
		t.Run(e.Path, func(t *testing.T) {
			var first []byte
			for _, kind := range []string{"file", "readerat", "readseeker"} {
				src := imageSources(t, filepath.Join(imagesDir, e.Path))[kind]
				clip, err := SampleImage(context.Background(), src, cfg)
				if e.Expect != "ok" {
					if string(Class(err)) != e.Expect {
						t.Errorf("%s: err %v (class %q), want class %s", kind, err, Class(err), e.Expect)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", kind, err)
				}
				if clip.Width != 224 || clip.Height != 224 || len(clip.Frames) != 224*224*3 {
					t.Fatalf("%s: %dx%d, %d bytes", kind, clip.Width, clip.Height, len(clip.Frames))
				}
				if len(clip.PTS) != 1 || clip.PTS[0] != 0 || len(clip.TimeS) != 1 || clip.TimeS[0] != 0 ||
					clip.FramesDecoded != 1 || len(clip.Targets) != 1 || len(clip.Missing) != 1 || clip.Padded != 0 {
					t.Errorf("%s: clip fields %+v", kind, *clipMeta(clip))
				}
				if clip.Info.Width != e.Width || clip.Info.Height != e.Height || clip.Info.PixFmt != e.PixFmt {
					t.Errorf("%s: info %dx%d %s, want %dx%d %s", kind, clip.Info.Width, clip.Info.Height, clip.Info.PixFmt, e.Width, e.Height, e.PixFmt)
				}
				sum := sha256.Sum256(clip.Frames)
				if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
					t.Errorf("%s: rgb24 sha256 %s, ffmpeg CLI %s", kind, got, e.SHA256)
				}
				if first == nil {
					first = clip.Frames
				} else if !bytes.Equal(first, clip.Frames) {
					t.Errorf("%s: bytes differ from the file source's", kind)
				}
			}
		})
	}
	assertNoLiveObjects(t)
}

func clipMeta(c *Clip) *Clip {
	m := *c
	m.Frames = nil
	m.Info = Info{}
	return &m
}

// Sample (the video path) still rejects every image as not_media, and a PNG named .mp4 (the
// corpus' bad/png_renamed.mp4) is not_media to Sample but an image to SampleImage.
func TestSampleStillRejectsImages(t *testing.T) {
	cfg := DefaultSampleConfig()
	for _, e := range loadImages(t) {
		if e.Expect != "ok" {
			continue
		}
		for kind, src := range imageSources(t, filepath.Join(imagesDir, e.Path)) {
			if _, err := Sample(context.Background(), src, cfg); Class(err) != "not_media" {
				t.Errorf("%s %s: Sample err %v (class %q), want not_media", e.Path, kind, err, Class(err))
			}
		}
	}
	png := corpusFile(t, "bad/png_renamed.mp4")
	if _, err := Sample(context.Background(), FileSource(png), cfg); Class(err) != "not_media" {
		t.Errorf("png_renamed.mp4: Sample err %v, want not_media", err)
	}
	clip, err := SampleImage(context.Background(), FileSource(png), cfg)
	if err != nil || len(clip.Frames) != 224*224*3 {
		t.Errorf("png_renamed.mp4: SampleImage err %v", err)
	}
	// text stays not_media: notes.txt opens as the tty (ANSI art) demuxer
	if _, err := SampleImage(context.Background(), FileSource(corpusFile(t, "bad/notes.txt")), cfg); Class(err) != "not_media" {
		t.Errorf("notes.txt: SampleImage err %v (class %q), want not_media", err, Class(err))
	}
	assertNoLiveObjects(t)
}

// A video passed to SampleImage gives its first frame: the same bytes as Sample's "at:0".
func TestSampleImageVideoFirstFrame(t *testing.T) {
	cfg := DefaultSampleConfig()
	cfg.Size = 96
	at := cfg
	at.Sampler, at.Frames = "at:0", 0
	for _, rel := range []string{"synthetic/h264_1frame_320x240.mp4", "synthetic/h264_rot90_640x360.mp4",
		"synthetic/vp9_odd_321x241_25fps.webm", "synthetic/h264_main_bf3_1280x720_30fps_moovend_aac.mp4"} {
		src := FileSource(corpusFile(t, rel))
		img, err := SampleImage(context.Background(), src, cfg)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		vid, err := Sample(context.Background(), src, at)
		if err != nil {
			t.Fatalf("%s: Sample at:0: %v", rel, err)
		}
		if !bytes.Equal(img.Frames, vid.Frames) || img.PTS[0] != vid.PTS[0] || img.TimeS[0] != vid.TimeS[0] {
			t.Errorf("%s: SampleImage (pts %d) differs from Sample at:0 (pts %d)", rel, img.PTS[0], vid.PTS[0])
		}
	}
	for rel, want := range map[string]string{
		"bad/truncated_05pct_faststart.mp4": "", // the index and the first frame survive
		"bad/truncated_50pct_moovend.mp4":   "truncated",
		"bad/audio_only.mp4":                "no_video_stream",
		"bad/random_bytes.mp4":              "not_media",
	} {
		if _, err := SampleImage(context.Background(), FileSource(corpusFile(t, rel)), cfg); string(Class(err)) != want {
			t.Errorf("%s: err %v (class %q), want %q", rel, err, Class(err), want)
		}
	}
	assertNoLiveObjects(t)
}

// image2 reads a FileSource's name literally: "%d" and "%20" are not a sequence pattern.
func TestSampleImageLiteralFileName(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(imagesDir, "jpeg_320x240_yuvj420p.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), "img%d 50%20off[1]*.jpg")
	if err := os.WriteFile(odd, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := SampleImage(context.Background(), ReaderSource("x.jpg", bytes.NewReader(b), int64(len(b))), DefaultSampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	got, err := SampleImage(context.Background(), FileSource(odd), DefaultSampleConfig())
	if err != nil {
		t.Fatalf("%s: %v", odd, err)
	}
	if got.Info.FormatName != "image2" || !bytes.Equal(got.Frames, want.Frames) {
		t.Errorf("%s: demuxer %s, bytes equal %v", odd, got.Info.FormatName, bytes.Equal(got.Frames, want.Frames))
	}
	assertNoLiveObjects(t)
}

func TestSampleImageErrorsAndConfig(t *testing.T) {
	jpg := filepath.Join(imagesDir, "jpeg_320x240_yuvj420p.jpg")
	png := filepath.Join(imagesDir, "png_odd_321x241_rgb24.png")
	webp := filepath.Join(imagesDir, "webp_200x112_yuv420p.webp")
	cfg := DefaultSampleConfig()
	class := func(src Source, c SampleConfig) string {
		_, err := SampleImage(context.Background(), src, c)
		return string(Class(err))
	}
	if c := class(FileSource(filepath.Join(imagesDir, "no_such.jpg")), cfg); c != "missing" {
		t.Errorf("missing file: class %q", c)
	}
	if c := class(ReaderSource("empty.jpg", bytes.NewReader(nil), 0), cfg); c != "empty" {
		t.Errorf("empty reader: class %q", c)
	}
	// every cut of the three formats is truncated (or, before the header is readable, one of
	// the classes for unusable bytes); never internal, never a frame
	for _, p := range []string{jpg, png, webp} {
		b, _ := os.ReadFile(p)
		for _, n := range []int{3, 20, 100, len(b) / 3, len(b) - 1} {
			c := class(ReaderSource(filepath.Base(p), bytes.NewReader(b[:n]), int64(n)), cfg)
			if c != "truncated" && !(n < 30 && (c == "not_media" || c == "corrupt")) {
				t.Errorf("%s cut to %d bytes: class %q, want truncated", filepath.Base(p), n, c)
			}
		}
	}
	// the sampler fields are ignored: the zero values that Sample rejects are fine
	zero := cfg
	zero.Sampler, zero.Frames, zero.OnMissing, zero.Seek, zero.Start, zero.End = "", 0, "", "", 3, 1
	if _, err := SampleImage(context.Background(), FileSource(jpg), zero); err != nil {
		t.Errorf("sampler fields should be ignored: %v", err)
	}
	bad := cfg
	bad.Size = 0
	if _, err := SampleImage(context.Background(), FileSource(jpg), bad); !errors.Is(err, ErrBadConfig) {
		t.Errorf("size 0: err %v, want ErrBadConfig", err)
	}
	// no crop: the long side becomes Size, the aspect ratio is kept
	nc := cfg
	nc.Crop = false
	if clip, err := SampleImage(context.Background(), FileSource(jpg), nc); err != nil || clip.Width != 224 || clip.Height != 168 {
		t.Errorf("no crop: %v", err)
	}
	lim := cfg
	lim.Limits.MaxPixels = 100 * 100
	if c := class(FileSource(jpg), lim); c != "too_large" {
		t.Errorf("MaxPixels 100x100: class %q, want too_large", c)
	}
	// deadlines: a reader slower than the deadline, and a cancelled context
	b, _ := os.ReadFile(jpg)
	slow := ReaderSource("slow.jpg", slowReader{bytes.NewReader(b), 60 * time.Millisecond}, int64(len(b)))
	short := cfg
	short.Deadline = 30 * time.Millisecond
	start := time.Now()
	if c := class(slow, short); c != "timeout" {
		t.Errorf("slow reader, 30 ms deadline: class %q, want timeout", c)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("30 ms deadline took %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := SampleImage(ctx, FileSource(jpg), cfg); Class(err) != "timeout" {
		t.Errorf("cancelled context: err %v, want timeout", err)
	}
	assertNoLiveObjects(t)
}

// FuzzSampleImage feeds arbitrary bytes to SampleImage through custom I/O: a clip or a
// classified error, never a panic, hang or leak. Seeds: the fixtures and damaged copies.
func FuzzSampleImage(f *testing.F) {
	for _, e := range loadImages(f) {
		b, err := os.ReadFile(filepath.Join(imagesDir, e.Path))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if len(b) > 64 {
			c := bytes.Clone(b)
			c[30] ^= 0xff
			c[len(c)/2] ^= 0x55
			f.Add(c)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultSampleConfig()
		cfg.Size, cfg.Deadline = 16, 5*time.Second
		clip, err := SampleImage(context.Background(), ReaderSource("fuzz.img", bytes.NewReader(data), int64(len(data))), cfg)
		checkClassified(t, err)
		if err == nil && len(clip.Frames) != 16*16*3 {
			t.Fatalf("clip with %d bytes", len(clip.Frames))
		}
		assertNoLiveObjects(t)
	})
}
