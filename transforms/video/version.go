package video

/*
#cgo pkg-config: libavcodec libavformat libavutil libswscale
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswscale/swscale.h>
*/
import "C"

import "fmt"

// LibraryVersions returns the versions of the FFmpeg libraries this binary is linked against,
// as "major.minor.micro", plus FFmpeg's own version string (e.g. "5.1.9-0+deb12u1").
func LibraryVersions() map[string]string {
	v := func(x C.uint) string {
		return fmt.Sprintf("%d.%d.%d", x>>16, (x>>8)&0xff, x&0xff)
	}
	return map[string]string{
		"ffmpeg":      C.GoString(C.av_version_info()),
		"libavcodec":  v(C.avcodec_version()),
		"libavformat": v(C.avformat_version()),
		"libavutil":   v(C.avutil_version()),
		"libswscale":  v(C.swscale_version()),
	}
}
