package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// framesReport is the frames.json written beside the PNGs.
type framesReport struct {
	Path          string        `json:"path"`
	Sampler       string        `json:"sampler"`
	Seed          uint64        `json:"seed"`
	Width         int           `json:"width"`
	Height        int           `json:"height"`
	SeekMode      string        `json:"seek_mode"`
	FramesDecoded int           `json:"frames_decoded"`
	DecodeErrors  int           `json:"decode_errors"`
	Padded        int           `json:"padded"`
	Frames        []frameReport `json:"frames"`
	Info          video.Info    `json:"info"`
}

type frameReport struct {
	Index   int     `json:"index"`
	File    string  `json:"file"`
	PTS     int64   `json:"pts"`
	TimeS   float64 `json:"time_s"`
	TargetS float64 `json:"target_s"`
	Padded  bool    `json:"padded,omitempty"`
}

func init() {
	cfg := video.DefaultSampleConfig()
	var out, clipID string
	var seed uint64
	var noCrop bool
	register(&Command{
		Path:    "inspect frames",
		Short:   "sample frames from a video and write them as PNG plus JSON",
		Aliases: map[string]string{"out": "output"},
		Long: `Samples frames from one video exactly as prep does and writes them to --output as
frame_000.png, frame_001.png, ... plus frames.json with each frame's index, pts (stream time
base), time in seconds from the start, the time the sampler asked for, and the probe info.

Samplers: rand, middle, segment (UMT stage 1), fps<N> (e.g. fps1), at:t1,t2,... (seconds).
rand and segment are seeded by --seed, else by --clip-id, else by the file path.

Examples:
  umt inspect frames --sampler middle --frames 8 --output /tmp/frames VIDEO
  umt inspect frames --sampler at:0.4,2.0 --size 224 --output /tmp/f testdata/videos/real/mdn_flower.mp4
  umt inspect frames --sampler rand --clip-id vid123 --no-crop --size 320 --output /tmp/f clip.webm`,
		Flags: func(fs *flag.FlagSet) {
			d := video.DefaultSampleConfig()
			fs.StringVar(&cfg.Sampler, "sampler", d.Sampler, "rand | middle | segment | fps<N> | at:t1,t2,...")
			fs.IntVar(&cfg.Frames, "frames", d.Frames, "number of frames T (for fps<N>: the maximum)")
			fs.IntVar(&cfg.Size, "size", d.Size, "output size S: S×S centre crop, or the long side with --no-crop")
			fs.BoolVar(&noCrop, "no-crop", false, "keep the aspect ratio: scale the long side to --size")
			fs.StringVar(&cfg.Interp, "interp", d.Interp, "bicubic | bilinear | area | lanczos | neighbor | ...")
			fs.Uint64Var(&seed, "seed", 0, "seed for rand/segment (0: derive from --clip-id or the path)")
			fs.StringVar(&clipID, "clip-id", "", "clip id the seed is derived from (as prep does)")
			fs.Float64Var(&cfg.Start, "start", 0, "span start, seconds")
			fs.Float64Var(&cfg.End, "end", 0, "span end, seconds (0: the end of the video)")
			fs.StringVar(&cfg.OnMissing, "on-missing", d.OnMissing, "fail | pad: what to do when targets have no decodable frame")
			fs.BoolVar(&cfg.NoAutorotate, "no-autorotate", false, "keep the stored orientation")
			fs.BoolVar(&cfg.FixSAR, "fix-sar", false, "scale to square pixels using the sample aspect ratio")
			fs.StringVar(&cfg.Seek, "seek", d.Seek, "auto | never | always")
			fs.DurationVar(&cfg.Deadline, "deadline", time.Minute, "give up after this long")
			fs.StringVar(&out, "output", "", "output directory (created if needed)")
		},
		Exec: func(args []string) error {
			if len(args) != 1 {
				return usagef("give exactly one video file, got %d arguments", len(args))
			}
			if out == "" {
				return usagef("--output DIR is required")
			}
			c := cfg
			c.Crop = !noCrop
			switch {
			case seed != 0:
				c.Seed = seed
			case clipID != "":
				c.Seed = video.SeedFor(clipID)
			default:
				c.Seed = video.SeedFor(args[0])
			}
			if _, err := c.Validate(); err != nil {
				return usagef("%v", err)
			}
			clip, err := video.Sample(context.Background(), video.FileSource(args[0]), c)
			if err != nil {
				return fmt.Errorf("%w [error_class=%s]", err, video.Class(err))
			}
			return writeFrames(out, args[0], c, clip)
		},
	})
}

// writeFrames writes the PNGs and frames.json, each atomically (storage.Write), so a failure
// leaves no half-written file.
func writeFrames(dir, path string, cfg video.SampleConfig, clip *video.Clip) error {
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create --output directory: %w", err)
	}
	rep := framesReport{
		Path: path, Sampler: cfg.Sampler, Seed: cfg.Seed, Width: clip.Width, Height: clip.Height,
		SeekMode: clip.SeekMode, FramesDecoded: clip.FramesDecoded, DecodeErrors: clip.DecodeErrors,
		Padded: clip.Padded, Info: clip.Info,
	}
	fb := clip.Width * clip.Height * 3
	for i := range clip.PTS {
		img := image.NewNRGBA(image.Rect(0, 0, clip.Width, clip.Height))
		src := clip.Frames[i*fb : (i+1)*fb]
		for p := 0; p < clip.Width*clip.Height; p++ {
			img.Pix[4*p], img.Pix[4*p+1], img.Pix[4*p+2], img.Pix[4*p+3] = src[3*p], src[3*p+1], src[3*p+2], 255
		}
		name := fmt.Sprintf("frame_%03d.png", i)
		if err := storage.Write(ctx, filepath.Join(dir, name), func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
			return err
		}
		rep.Frames = append(rep.Frames, frameReport{Index: i, File: name, PTS: clip.PTS[i], TimeS: clip.TimeS[i],
			TargetS: clip.Targets[i], Padded: clip.Missing[i]})
	}
	return storage.Write(ctx, filepath.Join(dir, "frames.json"), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	})
}
