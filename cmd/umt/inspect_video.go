package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/video"
)

// inspectVideoLine is one output line: the path and either the probe fields or the error.
type inspectVideoLine struct {
	Path string `json:"path"`
	*video.Info
	ErrorClass schemas.FailureClass `json:"error_class,omitempty"`
	Error      string               `json:"error,omitempty"`
	// With --decode: what decoding every frame found.
	Decode *decodeSummary `json:"decode,omitempty"`
}

// decodeSummary is video.Check's report without the probe fields the line already has.
type decodeSummary struct {
	FramesDecoded  int     `json:"frames_decoded"`
	DamagedFrames  int     `json:"damaged_frames"`
	LostStretches  int     `json:"lost_stretches"`
	DecodeErrors   int     `json:"decode_errors"`
	FFmpegErrors   int     `json:"ffmpeg_errors"`
	FirstFFmpegMsg string  `json:"first_ffmpeg_error,omitempty"`
	DecodedEndS    float64 `json:"decoded_end_s"`
	DeclaredEndS   float64 `json:"declared_end_s"`
}

func init() {
	var deadline time.Duration
	var decode bool
	register(&Command{
		Path:  "inspect video",
		Short: "probe videos (or decode every frame with --decode): one JSON line per file",
		Long: `Opens each file with FFmpeg and prints one JSON line: container, codec, size, rotation
(ffprobe's sign), SAR, pixel format, colour tags, frame rates, durations, frame count, audio,
and how frames will be sought. A file that cannot be used prints error_class (empty,
not_media, no_video_stream, truncated, corrupt, unsupported, too_large, timeout, missing) and
error instead. The exit code is 1 when any file failed, 0 otherwise.

By default it only probes (reads headers and a few packets; it does not decode): fast, but it
cannot see damage inside the stream. --decode decodes every frame of each file and reports the
class prep gives as soon as its sampled frames meet the damage (truncated: the stream stops
well before its declared end or the file ends inside a box/packet/page; corrupt: frames FFmpeg
flagged or concealed, or stretches the demuxer dropped), with "decode": frames decoded,
damaged frames, lost stretches, decodable vs declared end (seconds). Vet a corpus with it
before a large run.

Examples:
  umt inspect video testdata/videos/synthetic/*.mp4
  umt inspect video --deadline 5s clip.mkv | jq .rotation
  umt inspect video --decode --deadline 2m corpus/*.mkv | jq -c 'select(.error_class != null)'`,
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&deadline, "deadline", 30*time.Second, "give up on a file after this long")
			fs.BoolVar(&decode, "decode", false, "decode every frame and classify the whole file (slow: a full decode per file)")
		},
		Exec: func(args []string) error {
			if len(args) == 0 {
				return usagef("give at least one video file")
			}
			if deadline <= 0 {
				return usagef("--deadline must be positive, got %v", deadline)
			}
			enc := json.NewEncoder(stdout)
			failed := 0
			for _, p := range args {
				line := inspectVideoLine{Path: p}
				if decode {
					r := video.Check(context.Background(), video.FileSource(p), deadline)
					line.ErrorClass, line.Error = r.Class, r.Error
					if r.Info.Codec != "" {
						line.Info = &r.Info
					}
					line.Decode = &decodeSummary{FramesDecoded: r.FramesDecoded, DamagedFrames: r.DamagedFrames,
						LostStretches: r.LostStretches, DecodeErrors: r.DecodeErrors, FFmpegErrors: r.FFmpegErrors,
						FirstFFmpegMsg: r.FirstFFmpegMsg, DecodedEndS: r.DecodedEndS, DeclaredEndS: r.DeclaredEndS}
					if r.Class != "" {
						failed++
					}
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), deadline)
					info, err := video.Probe(ctx, video.FileSource(p))
					cancel()
					if err != nil {
						failed++
						line.ErrorClass, line.Error = video.Class(err), err.Error()
					} else {
						line.Info = &info
					}
				}
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d files could not be used (see error_class)", failed, len(args))
			}
			return nil
		},
	})
}
