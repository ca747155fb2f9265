package video

import (
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
)

// Damage: which decoded pictures FFmpeg's decoder did not reconstruct from intact data.
//
// A frame is damaged when
//   - the decoder says so: AVFrame.decode_error_flags (FF_DECODE_ERROR_*: invalid bitstream,
//     missing reference, error concealment active, decode slices) or AV_FRAME_FLAG_CORRUPT; or
//   - it was decoded after a damaged frame or a decoder error (a packet the decoder rejected,
//     followed by more packets) and before the next intact keyframe: inter frames reference
//     the damaged picture, so concealment errors spread until a keyframe resets prediction.
//     A decoder error on the very last packet (a file cut inside a packet) damages nothing
//     decoded before it.
//
// A target whose chosen frame comes after it (pts > target) and whose preceding decoded frame
// is damaged is damaged too: the picture on screen at the target time is the damaged one, or
// data the demuxer dropped while resynchronising after a damaged stretch (Matroska loses whole
// blocks and the next frame can be seconds later).
type dmgState struct {
	taint        bool   // inside a damaged stretch (until an intact keyframe)
	pendingTaint bool   // a decoder error waits for the next packet to taint what follows
	cur, prev    bool   // the current frame and the frame decoded before it are damaged
	why, prevWhy string // what FFmpeg reported for them
	errMsg       string // the last decoder error while tainted
	frames       int    // damaged frames decoded
}

// onError records a decoder error; atEnd marks one raised while draining at end of stream.
func (d *dmgState) onError(err error, atEnd bool) {
	d.errMsg = err.Error()
	if !atEnd {
		d.pendingTaint = true
	}
}

// onPacket records a packet the decoder accepted: an earlier error now damages what follows.
func (d *dmgState) onPacket() {
	if d.pendingTaint {
		d.pendingTaint, d.taint = false, true
	}
}

// onFrame judges a newly decoded frame f.
func (d *dmgState) onFrame(f *astiav.Frame) {
	d.prev, d.prevWhy = d.cur, d.why
	flags := frameDamage(f)
	switch {
	case flags != 0:
		d.cur, d.taint = true, true
		d.why = "FFmpeg flagged it: " + damageFlags(flags)
		if d.errMsg != "" {
			d.why += ` after the decoder error "` + d.errMsg + `"`
		}
	case frameKey(f):
		d.cur, d.taint, d.why, d.errMsg = false, false, "", ""
	case d.taint:
		d.cur = true
		d.why = "it predicts from damaged frames before it"
		if d.errMsg != "" {
			d.why = `it follows the decoder error "` + d.errMsg + `" before the next intact keyframe`
		}
	default:
		d.cur, d.why = false, ""
	}
	if d.cur {
		d.frames++
	}
}

// reset forgets the stretch state after a seek (decoding restarts at a keyframe).
func (d *dmgState) reset() {
	d.taint, d.pendingTaint, d.cur, d.prev, d.why, d.prevWhy, d.errMsg = false, false, false, false, "", "", ""
}

// damageFlags spells out frameDamage's bits.
func damageFlags(v int) string {
	names := []struct {
		bit  int
		name string
	}{{1, "invalid bitstream"}, {2, "missing reference"}, {4, "error concealment active"}, {8, "slices not decoded"}, {1 << 16, "frame marked corrupt"}}
	var out []string
	for _, n := range names {
		if v&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return fmt.Sprintf("decode_error_flags %#x: %s", v&0xffff, strings.Join(out, ", "))
}
