package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// sampleManifest is the bundled sample `umt bench decode` reads without --input (from the
// repository root).
const sampleManifest = "testdata/sample/manifest.jsonl"

func init() {
	var (
		bf                    benchFlags
		input, sampler, inter string
		frames, size          int
	)
	register(&Command{
		Path:  "bench decode",
		Short: "time video decoding and UMT frame sampling (what prep runs per clip)",
		Long: `Times what prep's decode stage does per clip: open the video, seek, decode the sampled
frames and scale and crop them (video.Sample, --sampler, --frames, --size as prep), on
--threads workers at once, one clip per worker at a time (FFmpeg decodes each clip on one
thread). One iteration is one pass over the inputs. Inputs are a manifest or video files given
with --input or as arguments (local, file://, gs:// or https://); without any, the bundled
sample (` + sampleManifest + `, from the repository root). Inputs that fail to decode are
left out and named. clips/s per core here is what one prep worker core decodes.
BenchmarkClips (transforms/video) times the same call on one core.

Examples:
  umt bench decode
  umt bench decode --threads 1 testdata/videos/real/*.mp4
  umt bench decode --input manifest.jsonl --frames 16 --size 224 --duration 30s --json`,
		Flags: func(fs *flag.FlagSet) {
			bf.declare(fs, true)
			def := video.DefaultSampleConfig()
			fs.StringVar(&input, "input", "", "a manifest (.json, .jsonl, .csv, .parquet) or one video; more videos may follow as arguments (default: "+sampleManifest+")")
			fs.StringVar(&sampler, "sampler", def.Sampler, "frame sampler: middle, rand, segment, fpsN or at:t1,t2,...")
			fs.StringVar(&inter, "interp", def.Interp, "resize interpolation (bicubic, bilinear, area, ...)")
			fs.IntVar(&frames, "frames", def.Frames, "frames per clip (T)")
			fs.IntVar(&size, "size", def.Size, "frame size S: short side scaled to S, centre crop S×S")
		},
		Exec: func(args []string) error {
			if err := bf.check(); err != nil {
				return err
			}
			if d := strings.ToLower(bf.device); d != "auto" && d != "cpu" {
				return usagef("--device %s: decoding runs on the CPU (FFmpeg software decoding); drop --device or give --device cpu", bf.device)
			}
			cfg := video.DefaultSampleConfig()
			cfg.Sampler, cfg.Interp, cfg.Frames, cfg.Size = sampler, inter, frames, size
			if _, err := cfg.Validate(); err != nil {
				return usagef("%v (see --sampler, --frames, --size, --interp)", err)
			}
			ins, notes, err := decodeInputs(input, args)
			if err != nil {
				return err
			}
			return benchDecode(&bf, ins, notes, cfg)
		},
	})
}

// decodeInput is one clip to sample: a video and an optional span.
type decodeInput struct {
	uri        string
	start, end float64
}

// decodeInputs lists the clips of --input (a manifest or a video) and the video arguments;
// notes name the manifest rows left out.
func decodeInputs(input string, files []string) ([]decodeInput, []string, error) {
	if input == "" && len(files) == 0 {
		if !existingFile(sampleManifest) {
			return nil, nil, usagef("no input: give --input MANIFEST or video files (the bundled sample %s is read only from the repository root)", sampleManifest)
		}
		input = sampleManifest
	}
	var ins []decodeInput
	var notes []string
	if input != "" {
		if _, err := manifest.DetectFormat(input); err == nil {
			rows, err := manifest.ReadAll(context.Background(), input, manifest.Options{})
			if err != nil {
				return nil, nil, err
			}
			for _, r := range rows {
				switch {
				case r.Err != "":
					notes = append(notes, fmt.Sprintf("left out manifest entry %d: %s", r.Index, r.Err))
				case r.Image:
					notes = append(notes, fmt.Sprintf("left out manifest entry %d: an image, not a video", r.Index))
				default:
					ins = append(ins, decodeInput{uri: r.URI, start: r.Start, end: r.End})
				}
			}
		} else {
			files = append([]string{input}, files...)
		}
	}
	for _, f := range files {
		ins = append(ins, decodeInput{uri: f})
	}
	if len(ins) == 0 {
		return nil, nil, usagef("%s lists no videos; give a manifest with video rows or video files", input)
	}
	return ins, notes, nil
}

// sampleClip runs video.Sample on one input: a local file through FFmpeg's file protocol, a
// remote one through the storage opener (as prep does). It returns the frames sampled.
func sampleClip(ctx context.Context, in decodeInput, cfg video.SampleConfig) (int, error) {
	cfg.Start, cfg.End, cfg.Seed = in.start, in.end, video.SeedFor(in.uri)
	var src video.Source
	if storage.IsLocal(in.uri) {
		p, err := storage.LocalPath(in.uri)
		if err != nil {
			return 0, err
		}
		src = video.FileSource(p)
	} else {
		r, err := storage.Open(ctx, in.uri)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		src = video.ReaderSource(in.uri, r, r.Size())
	}
	clip, err := video.Sample(ctx, src, cfg)
	if err != nil {
		return 0, err
	}
	return len(clip.PTS), nil
}

// decodePass samples every input once on threads workers and returns each input's frame count
// and error.
func decodePass(ins []decodeInput, cfg video.SampleConfig, threads int) ([]int, []error) {
	frames, errs := make([]int, len(ins)), make([]error, len(ins))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(threads, len(ins)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				frames[i], errs[i] = sampleClip(context.Background(), ins[i], cfg)
			}
		}()
	}
	for i := range ins {
		next <- i
	}
	close(next)
	wg.Wait()
	return frames, errs
}

// benchDecode checks the inputs with one untimed pass (which counts as a warm-up iteration),
// leaves out those that fail, then times passes over the rest.
func benchDecode(bf *benchFlags, ins []decodeInput, notes []string, cfg video.SampleConfig) error {
	threads := bf.threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	counts, errs := decodePass(ins, cfg, threads)
	var good []decodeInput
	total := 0
	for i, err := range errs {
		if err != nil {
			notes = append(notes, fmt.Sprintf("left out (%s): %v", video.Class(err), err))
			continue
		}
		good = append(good, ins[i])
		total += counts[i]
	}
	if len(good) == 0 {
		return fmt.Errorf("none of the %d inputs decodes; %s", len(ins), strings.Join(notes, "; "))
	}
	run := func() error {
		_, errs := decodePass(good, cfg, threads)
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("%s: %w", good[i].uri, err)
			}
		}
		return nil
	}
	check := *bf
	check.warmup = max(bf.warmup-1, 0) // the checking pass was the first
	vs := video.LibraryVersions()
	r := benchResult{Mode: "decode", Machine: thisMachine(), Warmup: bf.warmup, Notes: notes,
		Backend: "FFmpeg " + vs["ffmpeg"] + " (libavcodec " + vs["libavcodec"] + "), software decoding on the CPU",
		Device:  "cpu", Threads: threads,
		Workload: fmt.Sprintf("decode + %s sampling of %s × %d frames, %d² crop (%s), %d workers",
			cfg.Sampler, plural(len(good), "clip"), cfg.Frames, cfg.Size, cfg.Interp, threads)}
	work := benchWork{run: run, clips: len(good), frames: total}
	tm, err := measure(work, &check)
	if err != nil {
		return err
	}
	r.summarize(work, tm)
	return r.print(bf.asJSON)
}
