package video

/*
#include "umt.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// Info is what Probe reports about a video: the fields of `umt inspect video`.
// Rotation follows ffprobe's sign (degrees counter-clockwise of the display matrix);
// width/height are the coded size, display_* the size after rotation.
type Info struct {
	FormatName    string `json:"format_name"` // demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Container     string `json:"container"`   // short name: mp4, mov, mkv, webm, avi, ts, ogg, ...
	Codec         string `json:"codec"`
	Profile       string `json:"profile,omitempty"`
	Width         int    `json:"width"`
	Height        int    `json:"height"`
	Rotation      int    `json:"rotation"`
	DisplayWidth  int    `json:"display_width"`
	DisplayHeight int    `json:"display_height"`
	SAR           string `json:"sar,omitempty"` // "num:den"; empty when the file says nothing
	PixFmt        string `json:"pix_fmt"`

	ColorSpace     string `json:"color_space,omitempty"`
	ColorRange     string `json:"color_range,omitempty"`
	ColorPrimaries string `json:"color_primaries,omitempty"`
	ColorTransfer  string `json:"color_transfer,omitempty"`
	FieldOrder     string `json:"field_order,omitempty"`

	AvgFrameRate string  `json:"avg_frame_rate"` // "n/d" as ffprobe prints it
	RFrameRate   string  `json:"r_frame_rate"`
	AvgFPS       float64 `json:"avg_fps"`
	RFPS         float64 `json:"r_fps"`

	// DurationS is the stream duration, else the container's; 0 when neither is known
	// (DurationSource "none": Sample then measures it from packet timestamps).
	DurationS          float64  `json:"duration_s"`
	DurationSource     string   `json:"duration_source"` // stream | container | none
	StreamDurationS    *float64 `json:"stream_duration_s"`
	ContainerDurationS *float64 `json:"container_duration_s"`
	StartTimeS         float64  `json:"start_time_s"` // container start; sample times are relative to it

	NbFrames       int64  `json:"nb_frames"`        // header count, else duration × avg rate
	NbFramesSource string `json:"nb_frames_source"` // header | estimate | none

	HasAudio         bool   `json:"has_audio"`
	AudioCodec       string `json:"audio_codec,omitempty"`
	VideoStreamIndex int    `json:"video_stream_index"`
	NbStreams        int    `json:"nb_streams"`
	TimeBase         string `json:"time_base"`
	BitRate          int64  `json:"bit_rate,omitempty"`
	SizeBytes        int64  `json:"size_bytes"`
	// SeekMode is how Sample will look for frames: "seek" (keyframe seeks) or "sequential"
	// (containers whose seeking FFmpeg 5.1 gets wrong, e.g. MPEG-TS).
	SeekMode string `json:"seek_mode"`
}

// Probe opens src and reports its video stream. Bad input gets a classified error
// (see Class); a file whose index points past its end is ErrTruncated.
func Probe(ctx context.Context, src Source) (Info, error) {
	ctx, cancel := withDeadline(ctx, 0)
	defer cancel()
	in, err := openInput(ctx, src)
	if err != nil {
		return Info{}, err
	}
	defer in.close()
	info, err := in.probe(DefaultLimits)
	if err != nil {
		return info, err
	}
	if err := in.checkIndex(); err != nil {
		return info, err
	}
	if cut := in.structuralCut(info.FormatName); cut != "" {
		return info, newErr(ErrTruncated, in.src.name, nil, "%s; re-download it", cut)
	}
	return info, nil
}

func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = DefaultDeadline
	}
	return context.WithTimeout(ctx, d)
}

// notMediaFormats are demuxers that accept single images or text: not videos.
func notMediaFormat(name string) bool {
	return strings.HasSuffix(name, "_pipe") || name == "image2" || name == "tty" ||
		name == "gif" || name == "apng" || name == "webp_pipe"
}

// textFormat names the demuxers of text that SampleImage still rejects: ANSI/ASCII art (tty)
// and SVG (vector XML; it would be rasterised at whatever size the file declares).
func textFormat(name string) bool { return name == "tty" || name == "svg_pipe" }

// seqByFormat lets tests turn off the format list, so that the seek-overshoot detection
// alone has to catch MPEG-TS.
var seqByFormat = true

// seqFormats are demuxers whose seeking is not frame-accurate in FFmpeg 5.1.
var seqFormats = map[string]bool{"mpegts": true, "mpeg": true, "mpegvideo": true, "h264": true,
	"hevc": true, "m4v": true, "h263": true, "rawvideo": true, "mjpeg": true, "ogg": true}

func ratString(r astiav.Rational) string { return fmt.Sprintf("%d/%d", r.Num(), r.Den()) }

func ratFloat(r astiav.Rational) float64 {
	if r.Den() == 0 {
		return 0
	}
	return float64(r.Num()) / float64(r.Den())
}

const noPTS = math.MinInt64 // AV_NOPTS_VALUE

func cstr(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// probe reads stream info, picks the video stream and fills Info.
func (in *input) probe(lim Limits) (Info, error) {
	name := in.src.name
	fc := in.fc
	if err := fc.FindStreamInfo(nil); err != nil {
		if in.ctx.Err() != nil || in.expired() {
			return Info{}, timeoutErr(name, err)
		}
		return Info{}, newErr(ErrCorrupt, name, err, "FFmpeg cannot read the stream parameters")
	}
	info := Info{SizeBytes: in.size, NbStreams: fc.NbStreams(), VideoStreamIndex: -1}
	if f := fc.InputFormat(); f != nil {
		info.FormatName = f.Name()
	}
	switch {
	case in.images && textFormat(info.FormatName):
		return info, newErr(ErrNotMedia, name, nil, "this is a %s text file, not an image", info.FormatName)
	case in.images:
	case notMediaFormat(info.FormatName):
		return info, newErr(ErrNotMedia, name, nil, "this is a %s image/text file, not a video (SampleImage reads images)", info.FormatName)
	}
	if info.NbStreams == 0 {
		return info, newErr(ErrCorrupt, name, nil, "the container opened but lists no streams (damaged header)")
	}
	best, bestScore := -1, int64(-1)
	for i, st := range fc.Streams() {
		cp := st.CodecParameters()
		switch cp.MediaType() {
		case astiav.MediaTypeAudio:
			if !info.HasAudio {
				info.HasAudio = true
				info.AudioCodec = cp.CodecID().Name()
			}
		case astiav.MediaTypeVideo:
			disp := int(C.umt_disposition((*C.AVStream)(cPtr(st))))
			if disp&0x400 != 0 { // AV_DISPOSITION_ATTACHED_PIC: cover art, not video
				continue
			}
			score := int64(cp.Width()) * int64(cp.Height())
			if disp&1 != 0 { // AV_DISPOSITION_DEFAULT
				score += 1 << 40
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
	}
	if best < 0 {
		if i := meantVideo(fc); i >= 0 {
			return info, newErr(ErrCorrupt, name, nil, "stream %d is a video track whose sample description is destroyed (FFmpeg sees a %s stream of unknown codec); re-encode or drop it", i, fc.Streams()[i].CodecParameters().MediaType())
		}
		return info, newErr(ErrNoVideoStream, name, nil, "the file has only audio or data streams; drop it or supply the video")
	}
	st := fc.Streams()[best]
	in.st, in.vidx = st, best
	cp := st.CodecParameters()
	cst := (*C.AVStream)(cPtr(st))
	info.VideoStreamIndex = best
	info.Codec = cp.CodecID().Name()
	info.Profile = cstr(C.umt_profile(C.int(cp.CodecID()), C.int(cp.Profile())))
	info.Width, info.Height = cp.Width(), cp.Height()
	var has C.int
	rot := float64(C.umt_rotation(cst, &has))
	info.Rotation = int(rot) // ffprobe prints the double through an int
	info.DisplayWidth, info.DisplayHeight = info.Width, info.Height
	if m := rotationMode(rot, has != 0); m == 1 || m == 2 {
		info.DisplayWidth, info.DisplayHeight = info.Height, info.Width
	}
	if sar := fc.GuessSampleAspectRatio(st, nil); sar.Num() > 0 && sar.Den() > 0 {
		info.SAR = fmt.Sprintf("%d:%d", sar.Num(), sar.Den())
	}
	info.PixFmt = cp.PixelFormat().Name()
	info.ColorSpace = unspecified(cstr(C.umt_color_space(C.int(cp.ColorSpace()))))
	info.ColorRange = unspecified(cstr(C.umt_color_range(C.int(cp.ColorRange()))))
	info.ColorPrimaries = unspecified(cstr(C.umt_color_primaries(C.int(cp.ColorPrimaries()))))
	info.ColorTransfer = unspecified(cstr(C.umt_color_trc(C.int(cp.ColorTransferCharacteristic()))))
	info.FieldOrder = cstr(C.umt_field_order(C.int(cst.codecpar.field_order)))
	info.AvgFrameRate, info.RFrameRate = ratString(st.AvgFrameRate()), ratString(st.RFrameRate())
	info.AvgFPS, info.RFPS = ratFloat(st.AvgFrameRate()), ratFloat(st.RFrameRate())
	tb := st.TimeBase()
	info.TimeBase = ratString(tb)
	info.BitRate = fc.BitRate()

	if d := st.Duration(); d > 0 && d != noPTS && tb.Den() > 0 {
		v := float64(d) * ratFloat(tb)
		info.StreamDurationS = &v
	}
	if d := fc.Duration(); d > 0 && d != noPTS {
		v := float64(d) / 1e6
		info.ContainerDurationS = &v
	}
	if s := fc.StartTime(); s != noPTS {
		info.StartTimeS = float64(s) / 1e6
	}
	switch {
	case info.StreamDurationS != nil:
		info.DurationS, info.DurationSource = *info.StreamDurationS, "stream"
	case info.ContainerDurationS != nil:
		info.DurationS, info.DurationSource = *info.ContainerDurationS, "container"
	default:
		info.DurationSource = "none"
	}
	fps := info.AvgFPS
	if fps <= 0 || fps > 1000 {
		fps = info.RFPS
	}
	switch {
	case st.NbFrames() > 0:
		info.NbFrames, info.NbFramesSource = st.NbFrames(), "header"
	case info.DurationS > 0 && fps > 0 && fps <= 1000:
		info.NbFrames, info.NbFramesSource = int64(math.Round(info.DurationS*fps)), "estimate"
	default:
		info.NbFramesSource = "none"
	}
	info.Container = containerName(info.FormatName, in.src.ext(), fc)
	info.SeekMode = "seek"
	if seqByFormat && seqFormats[strings.Split(info.FormatName, ",")[0]] {
		info.SeekMode = "sequential"
	}

	if info.Width <= 0 || info.Height <= 0 {
		return info, newErr(ErrCorrupt, name, nil, "the video stream has no picture size")
	}
	if cp.CodecID() == astiav.CodecIDNone && !printableTag(uint32(cp.CodecTag())) {
		return info, newErr(ErrCorrupt, name, nil, "the video track's sample description is destroyed (codec tag %#08x is no fourcc); re-encode or drop it", uint32(cp.CodecTag()))
	}
	if astiav.FindDecoder(cp.CodecID()) == nil {
		return info, newErr(ErrUnsupported, name, nil, "no decoder for codec %q in this FFmpeg build", info.Codec)
	}
	if px := int64(info.Width) * int64(info.Height); px > lim.MaxPixels {
		return info, newErr(ErrTooLarge, name, nil, "%dx%d is %d pixels, over the limit of %d (Limits.MaxPixels)", info.Width, info.Height, px, lim.MaxPixels)
	}
	if info.DurationS > lim.MaxDurationS {
		return info, newErr(ErrTooLarge, name, nil, "duration %.0f s is over the limit of %.0f s (Limits.MaxDurationS)", info.DurationS, lim.MaxDurationS)
	}
	return info, nil
}

// checkIndex reports ErrTruncated when the container's index points past the end of the
// bytes we have (an MP4 cut after a front moov opens fine but its samples are gone).
func (in *input) checkIndex() error {
	for _, st := range in.fc.Streams() {
		if n := int(C.umt_index_past_end((*C.AVStream)(cPtr(st)), C.int64_t(in.size))); n > 0 {
			return newErr(ErrTruncated, in.src.name, nil, "the index lists %d samples beyond the last byte (%d): the file was cut short; re-download it", n, in.size)
		}
	}
	return nil
}

func unspecified(s string) string {
	if s == "unknown" || s == "unspecified" || s == "reserved" {
		return ""
	}
	return s
}

func containerName(format, ext string, fc *astiav.FormatContext) string {
	first := strings.Split(format, ",")[0]
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	switch first {
	case "mov":
		if e := fc.Metadata().Get("major_brand", nil, 0); e != nil && strings.TrimSpace(e.Value()) == "qt" {
			return "mov"
		}
		if ext == "mov" {
			return "mov"
		}
		return "mp4"
	case "matroska":
		if ext == "webm" {
			return "webm"
		}
		return "mkv"
	case "mpegts":
		return "ts"
	}
	return first
}

// rotationMode maps ffprobe's rotation to the filter ffmpeg's autorotate inserts:
// 1 transpose=clock, 2 transpose=cclock, 3 hflip+vflip, 0 none.
func rotationMode(rot float64, has bool) int {
	if !has {
		return 0
	}
	theta := -math.Round(rot)
	theta -= 360 * math.Floor(theta/360+0.9/360)
	switch {
	case math.Abs(theta-90) < 1:
		return 1
	case math.Abs(theta-180) < 1:
		return 3
	case math.Abs(theta-270) < 1:
		return 2
	}
	return 0
}

// meantVideo finds a stream that was meant to be video but that FFmpeg could not identify: a
// data/unknown stream of no known codec whose track handler names video (MP4's hdlr name, e.g.
// "VideoHandler") or that still carries a picture size. -1 if none: the file never had video.
func meantVideo(fc *astiav.FormatContext) int {
	for i, st := range fc.Streams() {
		cp := st.CodecParameters()
		mt := cp.MediaType()
		if cp.CodecID() != astiav.CodecIDNone || (mt != astiav.MediaTypeData && mt != astiav.MediaTypeUnknown && mt != astiav.MediaTypeVideo) {
			continue
		}
		h := ""
		if e := st.Metadata().Get("handler_name", nil, 0); e != nil {
			h = strings.ToLower(e.Value())
		}
		if strings.Contains(h, "video") || cp.Width() > 0 && cp.Height() > 0 || mt == astiav.MediaTypeVideo {
			return i
		}
	}
	return -1
}

// printableTag reports whether a codec tag is a fourcc of printable ASCII (a codec this
// FFmpeg does not know) rather than destroyed bytes.
func printableTag(t uint32) bool {
	for i := 0; i < 4; i++ {
		if c := byte(t >> (8 * i)); c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
