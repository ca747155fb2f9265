package video

/*
#include "umt.h"
*/
import "C"

import (
	"errors"
	"io"

	"github.com/asticode/go-astiav"
)

// decoder decodes the chosen video stream of an input, frame by frame in presentation order.
type decoder struct {
	in    *input
	cc    *astiav.CodecContext
	pkt   *astiav.Packet
	frame *astiav.Frame // the frame next() returned
	last  *astiav.Frame // a reference to the most recent decoded frame

	flushed    bool  // the end-of-stream (nil) packet was sent
	readErr    error // first demuxer error other than EOF
	decodeErrs int   // packets or frames the decoder rejected
	// Damage tracking (see damage.go): whether the current frame (d.frame, d.last) is
	// damaged and why, whether the frame decoded before it was, and the running state.
	dmg dmgState
	// prevPts is the pts of the frame decoded before the current one (noPTS after a seek).
	prevPts, curPts int64
	decoded         int64 // raw bytes of decoded pictures, against Limits.MaxDecodedBytes
	frames          int   // frames decoded
	maxBytes        int64

	// skipBefore lets the decoder drop non-reference frames of packets whose pts is below it
	// (pre-roll towards a target: such a frame can never be the one selected, and nothing
	// references it). noPTS disables. maxSkipped is the latest pts dropped so far.
	skipBefore int64
	skipping   bool
	maxSkipped int64
}

func newDecoder(in *input, threads int, lim Limits) (*decoder, error) {
	cp := in.st.CodecParameters()
	codec := astiav.FindDecoder(cp.CodecID())
	if codec == nil {
		return nil, newErr(ErrUnsupported, in.src.name, nil, "no decoder for codec %q in this FFmpeg build", cp.CodecID().Name())
	}
	d := &decoder{in: in, maxBytes: lim.MaxDecodedBytes, skipBefore: noPTS, maxSkipped: noPTS, prevPts: noPTS, curPts: noPTS}
	d.cc = astiav.AllocCodecContext(codec)
	if d.cc == nil {
		return nil, errors.New("video: out of memory allocating a codec context")
	}
	live.add(kindCodec, 1)
	if in.logs != nil {
		watchLog(cPtr(d.cc), in.logs)
	}
	d.pkt = astiav.AllocPacket()
	live.add(kindPacket, 1)
	d.frame = astiav.AllocFrame()
	d.last = astiav.AllocFrame()
	live.add(kindFrame, 2)
	if d.pkt == nil || d.frame == nil || d.last == nil {
		d.close()
		return nil, errors.New("video: out of memory allocating packets/frames")
	}
	if err := d.cc.FromCodecParameters(cp); err != nil {
		d.close()
		return nil, newErr(ErrCorrupt, in.src.name, err, "the codec parameters are unusable")
	}
	tb := in.st.TimeBase()
	C.umt_set_pkt_timebase((*C.AVCodecContext)(cPtr(d.cc)), C.int(tb.Num()), C.int(tb.Den()))
	if threads <= 0 {
		threads = 1
	}
	d.cc.SetThreadCount(threads)
	if err := d.cc.Open(codec, nil); err != nil {
		d.close()
		return nil, newErr(ErrUnsupported, in.src.name, err, "the %s decoder refused this stream", codec.Name())
	}
	return d, nil
}

func (d *decoder) close() {
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
		live.add(kindPacket, -1)
	}
	for _, f := range []**astiav.Frame{&d.frame, &d.last} {
		if *f != nil {
			(*f).Free()
			*f = nil
			live.add(kindFrame, -1)
		}
	}
	if d.cc != nil {
		unwatchLog(cPtr(d.cc))
		d.cc.Free()
		d.cc = nil
		live.add(kindCodec, -1)
	}
}

// pts is the best-effort presentation timestamp of f (what ffmpeg's trim sees).
func pts(f *astiav.Frame) int64 { return int64(C.umt_best_effort((*C.AVFrame)(f.UnsafePointer()))) }

func frameDuration(f *astiav.Frame) int64 {
	return int64(C.umt_frame_duration((*C.AVFrame)(f.UnsafePointer())))
}

// next decodes the next frame into d.frame. It returns io.EOF at the end of the stream
// (clean or not: see readErr/decodeErrs), a timeout or a limit error.
func (d *decoder) next() error {
	eagain := 0
	for {
		err := d.cc.ReceiveFrame(d.frame)
		switch {
		case err == nil:
			d.frames++
			d.dmg.onFrame(d.frame)
			d.prevPts, d.curPts = d.curPts, pts(d.frame)
			d.decoded += int64(C.umt_frame_bytes((*C.AVFrame)(d.frame.UnsafePointer())))
			if d.decoded > d.maxBytes {
				return newErr(ErrTooLarge, d.in.src.name, nil, "decoding needed more than %d bytes of pictures (Limits.MaxDecodedBytes)", d.maxBytes)
			}
			d.last.Unref()
			if err := d.last.Ref(d.frame); err != nil {
				return err
			}
			return nil
		case errors.Is(err, astiav.ErrEof):
			return io.EOF
		case errors.Is(err, astiav.ErrEagain):
		default:
			d.decodeErrs++
			d.dmg.onError(err, d.flushed)
			if d.flushed {
				return io.EOF
			}
		}
		if d.flushed {
			return io.EOF // a drained decoder that asks for more input: nothing left
		}
		if d.in.expired() {
			return timeoutErr(d.in.src.name, d.in.ctx.Err())
		}
		err = d.in.fc.ReadFrame(d.pkt)
		if err != nil {
			if errors.Is(err, astiav.ErrEagain) && eagain < 1000 {
				eagain++
				continue
			}
			if d.in.expired() || errors.Is(err, astiav.ErrExit) {
				return timeoutErr(d.in.src.name, err)
			}
			if !errors.Is(err, astiav.ErrEof) && d.readErr == nil {
				d.readErr = err
			}
			if d.in.readErr != nil && d.readErr == nil {
				d.readErr = d.in.readErr
			}
			d.flushed = true
			if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
				return io.EOF
			}
			continue
		}
		if d.pkt.StreamIndex() != d.in.vidx {
			d.pkt.Unref()
			continue
		}
		p := d.pkt.Pts()
		skip := d.skipBefore != noPTS && p != noPTS && p < d.skipBefore
		if skip != d.skipping {
			C.umt_set_skip_frame((*C.AVCodecContext)(cPtr(d.cc)), boolInt(skip))
			d.skipping = skip
		}
		if skip && p > d.maxSkipped {
			d.maxSkipped = p
		}
		err = d.cc.SendPacket(d.pkt)
		d.pkt.Unref()
		if err != nil && !errors.Is(err, astiav.ErrEagain) {
			d.decodeErrs++
			d.dmg.onError(err, false)
		} else {
			d.dmg.onPacket()
		}
	}
}

// seek positions the demuxer at the keyframe at or before tick and resets the decoder.
func (d *decoder) seek(tick int64) error {
	err := d.in.fc.SeekFrame(d.in.vidx, tick, astiav.NewSeekFlags(astiav.SeekFlagBackward))
	C.umt_flush((*C.AVCodecContext)(cPtr(d.cc)))
	d.flushed = false
	d.dmg.reset()
	d.prevPts, d.curPts = noPTS, noPTS
	d.last.Unref()
	d.maxSkipped = noPTS
	return err
}

func boolInt(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// frameDamage is FFmpeg's own verdict on f: its decode_error_flags (FF_DECODE_ERROR_*: invalid
// bitstream, missing reference, concealment active, decode slices) with bit 16 for
// AV_FRAME_FLAG_CORRUPT. 0 means the decoder reported nothing wrong with this picture.
func frameDamage(f *astiav.Frame) int {
	return int(C.umt_frame_damage((*C.AVFrame)(f.UnsafePointer())))
}

// frameKey reports whether f is a keyframe (nothing before it is referenced).
func frameKey(f *astiav.Frame) bool { return C.umt_frame_key((*C.AVFrame)(f.UnsafePointer())) != 0 }
