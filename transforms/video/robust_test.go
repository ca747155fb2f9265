package video

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary bytes through the custom-I/O path (ReaderSource → Probe and
// Sample): every outcome is a clip or a classified error, never a panic, hang or leak.
// Seeds are small corpus files and damaged variants of them; `go test` runs the seeds,
// `go test -fuzz FuzzOpen` explores (see scripts/fuzz.sh).
func FuzzOpen(f *testing.F) {
	dir, _ := loadCorpus(f)
	for _, rel := range []string{
		"synthetic/h264_tiny_64x48_10fps.mp4", "synthetic/h264_1frame_320x240.mp4",
		"bad/truncated_05pct_faststart.mp4", "bad/png_renamed.mp4", "bad/notes.txt",
		"bad/empty.mp4", "synthetic/vp9_odd_321x241_25fps.webm",
	} {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 32<<10 {
			b = b[:32<<10]
		}
		f.Add(b)
		if len(b) > 64 { // flipped bytes in the header and in the middle
			c := bytes.Clone(b)
			c[40] ^= 0xff
			c[len(c)/2] ^= 0x55
			f.Add(c)
		}
	}
	f.Add([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08mdat"))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		src := ReaderSource("fuzz.bin", bytes.NewReader(data), int64(len(data)))
		_, err := Probe(context.Background(), src)
		checkClassified(t, err)
		cfg := DefaultSampleConfig()
		cfg.Size, cfg.Frames, cfg.Deadline, cfg.OnMissing = 16, 2, 5*time.Second, "pad"
		clip, err := Sample(context.Background(), src, cfg)
		checkClassified(t, err)
		if err == nil && len(clip.Frames) != 2*16*16*3 {
			t.Fatalf("clip with %d bytes", len(clip.Frames))
		}
		assertNoLiveObjects(t)
	})
}

func checkClassified(t *testing.T, err error) {
	t.Helper()
	if c := Class(err); c == "internal" {
		t.Fatalf("unclassified error: %v", err)
	}
}

func rssBytes(t testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestLeakLoop decodes every corpus entry in a loop (Probe + Sample, file and custom I/O)
// and checks that FFmpeg objects all come back and memory stops growing: after a warm-up
// loop, the live Go heap must stay within 8 MB of it and RSS within 50 MB. Default: the warm-up
// plus 1 loop (about 30 s on the 2-core box); UMT_SOAK=1 runs the full 200 loops
// (UMT_SOAK_LOOPS=n overrides). RSS after a loop swings by ±20 MB with the C allocator's state
// (measured over 200 loops: +4 to +48 MB, no trend), so runs of 100+ loops judge the trend instead of a
// single loop: the mean RSS of the last quarter of loops must stay within rssTrendLimit of the
// mean of the first quarter (a leak of 70 KB per loop crosses it in 200 loops), and a single
// loop only fails above the looser rssSpikeLimit.
func TestLeakLoop(t *testing.T) {
	loops := 2
	if os.Getenv("UMT_SOAK") == "1" {
		loops = 200
		if n, err := strconv.Atoi(os.Getenv("UMT_SOAK_LOOPS")); err == nil && n > 1 {
			loops = n
		}
	}
	dir, entries := loadCorpus(t)
	var blobs [][]byte
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Path))
		blobs = append(blobs, b)
	}
	cfg := DefaultSampleConfig()
	const rssTrendLimit, rssSpikeLimit = 10 << 20, 80 << 20
	rssLimit := int64(50 << 20)
	if loops >= 100 { // quarters of 25+ loops: means steady enough to judge a trend
		rssLimit = rssSpikeLimit
	}
	var base int64
	var baseHeap uint64
	var growths []int64 // RSS growth per loop after the warm-up
	for loop := 0; loop < loops; loop++ {
		for i, e := range entries {
			path := filepath.Join(dir, e.Path)
			Probe(context.Background(), FileSource(path))
			Sample(context.Background(), FileSource(path), cfg)
			if blobs[i] != nil {
				Sample(context.Background(), ReaderSource(e.Path, bytes.NewReader(blobs[i]), int64(len(blobs[i]))), cfg)
			}
		}
		assertNoLiveObjects(t)
		runtime.GC()
		debug.FreeOSMemory()
		ReleaseFreeMemory() // measure what is held, not what glibc's arenas keep cached
		rss := rssBytes(t)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if loop == 0 {
			base, baseHeap = rss, ms.HeapInuse
			continue
		}
		// Go objects kept alive by a registry (go-astiav's custom-I/O handler map kept every
		// reader and its bytes: +16 MB per loop) show up here regardless of the C allocator.
		if growth := int64(ms.HeapInuse) - int64(baseHeap); growth > 8<<20 {
			t.Fatalf("loop %d: Go heap in use grew %d MB since the warm-up loop (limit 8 MB)", loop, growth>>20)
		}
		if growth := rss - base; growth > rssLimit {
			t.Fatalf("loop %d: RSS grew %d MB since the warm-up loop (limit %d MB)", loop, growth>>20, rssLimit>>20)
		}
		growths = append(growths, rss-base)
		if testing.Verbose() && loops > 2 {
			t.Logf("loop %d: RSS %d MB (%+d KB), Go heap in use %d MB", loop, rss>>20, (rss-base)>>10, ms.HeapInuse>>20)
		}
		if loop == loops-1 {
			t.Logf("%d loops: RSS %d MB, growth since warm-up %+d KB", loops, rss>>20, (rss-base)>>10)
		}
	}
	if q := len(growths) / 4; loops >= 100 {
		first, last := meanInt64(growths[:q]), meanInt64(growths[len(growths)-q:])
		t.Logf("RSS growth: mean %+.1f MB over the first %d loops, %+.1f MB over the last %d", first/(1<<20), q, last/(1<<20), q)
		if last-first > rssTrendLimit {
			t.Fatalf("RSS trends upward: the last %d loops average %.1f MB more than the first %d (limit %d MB): a leak", q, (last-first)/(1<<20), q, rssTrendLimit>>20)
		}
	}
}

func meanInt64(v []int64) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(max(len(v), 1))
}

// TestConcurrent runs 8 goroutines decoding different corpus files at once (half by path,
// half through custom I/O) and checks every result equals the serial one. Run with -race.
func TestConcurrent(t *testing.T) {
	files := []string{
		"synthetic/h264_baseline_640x360_25fps_faststart.mp4", "synthetic/vp9_odd_321x241_25fps.webm",
		"synthetic/hevc_main_640x360_24fps.mp4", "synthetic/h264_rot90_640x360.mp4",
		"synthetic/h264_main_gop5_320x240_30fps_aac.ts", "real/mdn_stream-of-water.webm",
		"synthetic/av1_svt_640x360_25fps.mp4", "bad/truncated_50pct_faststart.mp4",
	}
	cfg := DefaultSampleConfig()
	cfg.Size, cfg.OnMissing = 96, "pad"
	serial := make([][]byte, len(files))
	for i, f := range files {
		clip, err := Sample(context.Background(), FileSource(corpusFile(t, f)), cfg)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		serial[i] = clip.Frames
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 2; r++ {
				i := (g + r) % len(files)
				src := FileSource(corpusFile(t, files[i]))
				if g%2 == 1 {
					b, _ := os.ReadFile(corpusFile(t, files[i]))
					src = ReaderSource(files[i], bytes.NewReader(b), int64(len(b)))
				}
				clip, err := Sample(context.Background(), src, cfg)
				if err != nil {
					errs <- files[i] + ": " + err.Error()
					continue
				}
				if !bytes.Equal(clip.Frames, serial[i]) {
					errs <- files[i] + ": concurrent result differs from the serial one"
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assertNoLiveObjects(t)
}
