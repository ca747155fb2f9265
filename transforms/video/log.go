package video

/*
#include "umt.h"
*/
import "C"

import (
	"os"
	"strings"
	"sync"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// FFmpeg prints decoder and demuxer complaints to stderr; for a corpus of millions of files
// that is noise, and every problem that matters comes back as a classified error. Set
// UMT_FFMPEG_LOG=error|warning|info|debug to see FFmpeg's own messages. Whatever the level,
// error-level messages of the demuxer and decoder a call opened are counted on its input
// (logSink): they are FFmpeg's report of damage it skipped over without returning an error.
func init() {
	levels := map[string]astiav.LogLevel{
		"quiet": astiav.LogLevelQuiet, "error": astiav.LogLevelError, "warning": astiav.LogLevelWarning,
		"info": astiav.LogLevelInfo, "debug": astiav.LogLevelDebug,
	}
	l, ok := levels[os.Getenv("UMT_FFMPEG_LOG")]
	if !ok {
		l = astiav.LogLevelQuiet
	}
	C.umt_log_init(C.int(l))
}

// logSink counts the error-level messages FFmpeg logged for one input's contexts.
type logSink struct {
	mu    sync.Mutex
	n     int
	first string
}

func (s *logSink) add(msg string) {
	s.mu.Lock()
	if s.n == 0 {
		s.first = strings.TrimSpace(msg)
	}
	s.n++
	s.mu.Unlock()
}

// count returns how many messages arrived and the first of them.
func (s *logSink) count() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.first
}

var logOwners sync.Map // context pointer (uintptr) → *logSink

func watchLog(ctx unsafe.Pointer, s *logSink) { logOwners.Store(uintptr(ctx), s) }
func unwatchLog(ctx unsafe.Pointer)           { logOwners.Delete(uintptr(ctx)) }

//export umtGoLog
func umtGoLog(ctx C.uintptr_t, msg *C.char) {
	if s, ok := logOwners.Load(uintptr(ctx)); ok {
		s.(*logSink).add(C.GoString(msg))
	}
}
