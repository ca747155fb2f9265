package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/umt-dev/umt/transforms/video"
)

// inspectVideoLine is one output line: the path and either the probe fields or the error.
type inspectVideoLine struct {
	Path string `json:"path"`
	*video.Info
	ErrorClass string `json:"error_class,omitempty"`
	Error      string `json:"error,omitempty"`
}

func init() {
	var deadline time.Duration
	register(&Command{
		Path:  "inspect video",
		Short: "probe videos: one JSON line per file",
		Long: `Opens each file with FFmpeg and prints one JSON line: container, codec, size, rotation
(ffprobe's sign), SAR, pixel format, colour tags, frame rates, durations, frame count, audio,
and how frames will be sought. A file that cannot be used prints error_class (empty,
not_media, no_video_stream, truncated, corrupt, unsupported, too_large, timeout, missing) and
error instead. The exit code is 1 when any file failed, 0 otherwise.

Examples:
  umt inspect video testdata/videos/synthetic/*.mp4
  umt inspect video --deadline 5s clip.mkv | jq .rotation`,
		Flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&deadline, "deadline", 30*time.Second, "give up on a file after this long")
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
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				info, err := video.Probe(ctx, video.FileSource(p))
				cancel()
				line := inspectVideoLine{Path: p}
				if err != nil {
					failed++
					line.ErrorClass, line.Error = video.Class(err), err.Error()
				} else {
					line.Info = &info
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
