package video

import (
	"os"

	"github.com/asticode/go-astiav"
)

// FFmpeg prints decoder and demuxer complaints to stderr; for a corpus of millions of files
// that is noise, and every problem that matters comes back as a classified error. Set
// UMT_FFMPEG_LOG=error|warning|info|debug to see FFmpeg's own messages.
func init() {
	levels := map[string]astiav.LogLevel{
		"quiet": astiav.LogLevelQuiet, "error": astiav.LogLevelError, "warning": astiav.LogLevelWarning,
		"info": astiav.LogLevelInfo, "debug": astiav.LogLevelDebug,
	}
	l, ok := levels[os.Getenv("UMT_FFMPEG_LOG")]
	if !ok {
		l = astiav.LogLevelQuiet
	}
	astiav.SetLogLevel(l)
}
