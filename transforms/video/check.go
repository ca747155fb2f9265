package video

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/umt-dev/umt/schemas"
)

// Report is what Check found by decoding every frame of a video.
type Report struct {
	// Class is "" for a video every sample can trust, else the class Sample gives as soon as
	// its targets meet the problem (truncated, corrupt, or the class of an open/probe error).
	Class schemas.FailureClass `json:"class"`
	// Error is the classified error's message ("" when Class is "").
	Error          string  `json:"error,omitempty"`
	FramesDecoded  int     `json:"frames_decoded"`
	DamagedFrames  int     `json:"damaged_frames"` // frames the decoder flagged or rebuilt from damaged references
	LostStretches  int     `json:"lost_stretches"` // gaps where the demuxer dropped damaged data
	DecodeErrors   int     `json:"decode_errors"`  // packets the decoder rejected
	FFmpegErrors   int     `json:"ffmpeg_errors"`  // error-level messages of the demuxer and decoder
	FirstFFmpegMsg string  `json:"first_ffmpeg_error,omitempty"`
	DecodedEndS    float64 `json:"decoded_end_s"`  // where the last decoded frame ends, from the container start
	DeclaredEndS   float64 `json:"declared_end_s"` // where the container/stream says the video ends (0: not declared)
	Info           Info    `json:"info"`
}

// Check decodes every frame of src (no seeking, no frame dropped) and classifies the whole
// file by the rules Sample applies to its targets: a file cut inside a unit of its container
// or whose stream stops well before its declared end is truncated; a file with damaged
// frames or lost stretches is corrupt. It is `umt inspect video --decode`: a corpus vetted
// with it holds no file that can fail a prep run for these reasons. deadline 0 means
// DefaultDeadline.
func Check(ctx context.Context, src Source, deadline time.Duration) Report {
	ctx, cancel := withDeadline(ctx, deadline)
	defer cancel()
	cfg := DefaultSampleConfig()
	s := &sampling{ctx: ctx, src: src, cfg: cfg, lim: cfg.Limits.withDefaults(), clip: &Clip{}}
	defer s.close()
	var r Report
	fail := func(err error) Report {
		r.Class, r.Error = Class(err), err.Error()
		return r
	}
	if err := s.open(); err != nil {
		r.Info = s.info
		return fail(err)
	}
	r.Info = s.info
	var firstGap, shortEnd string
	var prevPts, prevDur int64 = noPTS, 0
	tb := ratFloat(s.in.st.TimeBase())
	for {
		err := s.dec.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
		p := pts(s.dec.frame)
		if p == noPTS {
			continue
		}
		if prevPts != noPTS && p > prevPts && constantRate(s.info) && s.sawDamage() &&
			float64(p-prevPts-prevDur)*tb > endTolerance(s.info, 0) {
			r.LostStretches++
			if firstGap == "" {
				firstGap = fmt.Sprintf("no frame between %.3f s and %.3f s", float64(prevPts)*tb-s.info.StartTimeS, float64(p)*tb-s.info.StartTimeS)
			}
		}
		prevPts, prevDur = p, max(frameDuration(s.dec.frame), 0)
		if s.dec.dmg.cur && s.damageMsg == "" {
			s.damageMsg = fmt.Sprintf("the frame at %.3f s is damaged: %s", float64(p)*tb-s.info.StartTimeS, s.dec.dmg.why)
		}
	}
	r.FramesDecoded, r.DecodeErrors, r.DamagedFrames = s.dec.frames, s.dec.decodeErrs, s.dec.dmg.frames
	r.FFmpegErrors, r.FirstFFmpegMsg = s.in.logs.count()
	if prevPts != noPTS {
		var near bool
		r.DecodedEndS, r.DeclaredEndS, near = s.endOf(prevPts, max(prevDur, 1))
		if !near {
			shortEnd = fmt.Sprintf("the stream decodes to %.2f s of a declared %.2f s (%.0f%%)", r.DecodedEndS, r.DeclaredEndS, 100*r.DecodedEndS/r.DeclaredEndS)
		}
	}
	switch {
	case s.cut != "":
		return fail(newErr(ErrTruncated, src.name, nil, "%s", s.cut))
	case s.dec.readErr != nil:
		return fail(newErr(ErrTruncated, src.name, s.dec.readErr, "reading stopped part-way"))
	case shortEnd != "":
		return fail(newErr(ErrTruncated, src.name, nil, "%s: the file ends before the frames it claims", shortEnd))
	case r.FramesDecoded == 0:
		return fail(newErr(ErrCorrupt, src.name, nil, "no frame decodes"))
	case r.DamagedFrames > 0:
		return fail(newErr(ErrCorrupt, src.name, nil, "%d of %d frames are damaged; %s", r.DamagedFrames, r.FramesDecoded, s.damageMsg))
	case r.LostStretches > 0:
		return fail(newErr(ErrCorrupt, src.name, nil, "%d stretches of frames were lost (%s; FFmpeg: %q)", r.LostStretches, firstGap, r.FirstFFmpegMsg))
	}
	return r
}
