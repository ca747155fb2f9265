package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/asticode/go-astiav"
)

// Clip is the result of Sample: T rendered frames and where they came from.
type Clip struct {
	Frames []byte    // [T, Height, Width, 3] RGB uint8, row-major
	PTS    []int64   // per frame: presentation timestamp in the stream time base (Info.TimeBase)
	TimeS  []float64 // per frame: seconds from the container start (ffprobe pts_time − start_time)
	// Targets are the times the sampler asked for, seconds from the container start.
	Targets []float64
	Width   int
	Height  int
	Info    Info
	// Padded counts frames that repeat a neighbour because their target had no decodable
	// frame (OnMissing "pad"); Missing marks them.
	Padded  int
	Missing []bool
	// DecodeErrors counts packets the decoder rejected (damaged data it skipped).
	DecodeErrors int
	// Damaged counts sampled frames whose picture is damaged (see damage.go; only with
	// OnCorrupt "keep", else such a clip is ErrCorrupt); DamagedAt marks them.
	Damaged   int
	DamagedAt []bool
	// DamagedSkipped counts damaged frames decoded on the way to a target that no target
	// took: a warning about the file, not about the clip.
	DamagedSkipped int
	// DecodedEndS and DeclaredEndS (seconds from the container start) are where the last
	// decoded frame ends and where the container or stream says the video ends; both are set
	// only when decoding reached the end of the stream (ReachedEnd).
	ReachedEnd   bool
	DecodedEndS  float64
	DeclaredEndS float64
	// FramesDecoded is how many frames were decoded to produce the clip.
	FramesDecoded int
	// SeekMode is "seek", "sequential", or "seek+sequential" when a bad seek forced a
	// sequential pass.
	SeekMode string
}

// Sample decodes the frames cfg asks for from src. See the package documentation for the
// sampling, end-of-stream and seeking rules.
func Sample(ctx context.Context, src Source, cfg SampleConfig) (*Clip, error) {
	smp, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDeadline(ctx, cfg.Deadline)
	defer cancel()
	s := &sampling{ctx: ctx, src: src, cfg: cfg, smp: smp, lim: cfg.Limits.withDefaults()}
	defer s.close()
	clip, err := s.run()
	if err != nil {
		var ce *classed
		if errors.As(err, &ce) && ce.name == "" {
			ce.name = src.name
		}
		return nil, err
	}
	return clip, nil
}

type want struct {
	tick  int64
	slots []int
}

type sampling struct {
	ctx  context.Context
	src  Source
	cfg  SampleConfig
	smp  Sampler
	lim  Limits
	in   *input
	dec  *decoder
	conv *converter
	info Info

	truncated   bool   // the index points past the end of the file, or the file is cut
	cut         string // how the file ends inside a unit of its container (structuralCut)
	useSeek     bool
	fellBack    bool
	noSkip      bool // decode every frame (set after a skipped frame turned out to be the last)
	streamStart int64
	decodeErrs  int
	frames      int
	damaged     int  // damaged frames decoded by decoders already closed
	usedDamaged int  // damaged decoded frames some target took
	usedSeq     int  // s.frames+dec.frames of the last damaged frame a target took
	shortEnd    bool // the stream ended well before its declared end
	damageMsg   string
	gapMsg      string // the first lost stretch a target fell in

	g        geometry
	clip     *Clip
	rendered []bool
	haveLast bool
}

func (s *sampling) close() {
	if s.dec != nil {
		s.dec.close()
		s.dec = nil
	}
	if s.in != nil {
		s.in.close()
		s.in = nil
	}
	if s.conv != nil {
		s.conv.close()
		s.conv = nil
	}
}

// open (re)opens the input and a decoder positioned at the start.
func (s *sampling) open() error {
	if s.dec != nil {
		s.decodeErrs += s.dec.decodeErrs
		s.frames += s.dec.frames
		s.damaged += s.dec.dmg.frames
		s.dec.close()
		s.dec = nil
	}
	if s.in != nil {
		s.in.close()
		s.in = nil
	}
	in, err := openInput(s.ctx, s.src)
	if err != nil {
		return err
	}
	s.in = in
	info, err := in.probe(s.lim)
	if err != nil {
		return err
	}
	if s.info.DurationSource == "packets" { // keep what a packet scan measured
		info.DurationS, info.DurationSource = s.info.DurationS, s.info.DurationSource
		info.NbFrames, info.NbFramesSource = s.info.NbFrames, s.info.NbFramesSource
	}
	s.info = info
	s.truncated = in.checkIndex() != nil
	if s.cut == "" {
		s.cut = in.structuralCut(info.FormatName)
	}
	s.truncated = s.truncated || s.cut != ""
	s.streamStart = 0
	if st := in.st.StartTime(); st != noPTS {
		s.streamStart = st
	}
	dec, err := newDecoder(in, s.cfg.Threads, s.lim)
	if err != nil {
		return err
	}
	s.dec = dec
	return nil
}

func (s *sampling) run() (*Clip, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	if s.cut != "" && s.cfg.OnMissing != "pad" {
		return nil, newErr(ErrTruncated, s.src.name, nil, "%s; its frames end where the cut is, so the clip would not be the video the manifest meant (OnMissing \"pad\" keeps what survives); re-download it", s.cut)
	}
	switch {
	case s.cfg.Seek == "never":
	case s.cfg.Seek == "always":
		s.useSeek = true
	default:
		s.useSeek = s.info.SeekMode == "seek"
	}
	needGrid := s.smp.Kind != SamplerAt
	if needGrid && (s.info.DurationS <= 0 || s.info.NbFrames <= 0) {
		if err := s.scanPackets(); err != nil {
			return nil, err
		}
	}
	times, err := s.targets()
	if err != nil {
		return nil, err
	}
	s.g, err = streamGeometry(s.in, s.info.Width, s.info.Height, s.cfg)
	if err != nil {
		return nil, err
	}
	frameBytes := s.g.outW * s.g.outH * 3
	if int64(frameBytes)*int64(len(times)) > s.lim.MaxOutputBytes {
		return nil, newErr(ErrTooLarge, s.src.name, nil, "%d frames of %dx%d exceed Limits.MaxOutputBytes (%d)", len(times), s.g.outW, s.g.outH, s.lim.MaxOutputBytes)
	}
	if s.conv, err = newConverter(); err != nil {
		return nil, err
	}
	T := len(times)
	s.clip = &Clip{
		Frames: make([]byte, T*frameBytes), PTS: make([]int64, T), TimeS: make([]float64, T),
		Targets: times, Width: s.g.outW, Height: s.g.outH, Missing: make([]bool, T),
		DamagedAt: make([]bool, T),
	}
	s.rendered = make([]bool, T)

	tb := s.in.st.TimeBase()
	startUS := s.in.fc.StartTime()
	if startUS == noPTS {
		startUS = 0
	}
	byTick := map[int64]*want{}
	for i, t := range times {
		us := int64(math.Round(t*1e6)) + startUS
		tk := astiav.RescaleQ(us, astiav.NewRational(1, 1000000), tb)
		if byTick[tk] == nil {
			byTick[tk] = &want{tick: tk}
		}
		byTick[tk].slots = append(byTick[tk].slots, i)
	}
	wants := make([]want, 0, len(byTick))
	for _, w := range byTick {
		wants = append(wants, *w)
	}
	sort.Slice(wants, func(i, j int) bool { return wants[i].tick < wants[j].tick })

	if err := s.decode(wants); err != nil {
		return nil, err
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	s.clip.Info = s.info
	s.clip.DecodeErrors = s.decodeErrs + s.dec.decodeErrs
	s.clip.FramesDecoded = s.frames + s.dec.frames
	s.clip.DamagedSkipped = max(0, s.damaged+s.dec.dmg.frames-s.usedDamaged)
	for _, d := range s.clip.DamagedAt {
		if d {
			s.clip.Damaged++
		}
	}
	if s.clip.Damaged > 0 && s.cfg.OnCorrupt != "keep" {
		return nil, newErr(ErrCorrupt, s.src.name, nil, "%s; %d of %d sampled frames are damaged (OnCorrupt \"keep\" keeps such clips and counts them)", s.damageMsg, s.clip.Damaged, len(times))
	}
	switch {
	case s.fellBack:
		s.clip.SeekMode = "seek+sequential"
	case s.useSeek:
		s.clip.SeekMode = "seek"
	default:
		s.clip.SeekMode = "sequential"
	}
	return s.clip, nil
}

// streamGeometry is where frames of w×h from in's video stream land under cfg: the stream's
// SAR (with FixSAR) and rotation (unless NoAutorotate), then newGeometry.
func streamGeometry(in *input, w, h int, cfg SampleConfig) (geometry, error) {
	var sarNum, sarDen int
	if sar := in.fc.GuessSampleAspectRatio(in.st, nil); sar.Num() > 0 && sar.Den() > 0 {
		sarNum, sarDen = sar.Num(), sar.Den()
	}
	mode := 0
	if !cfg.NoAutorotate {
		rot, has := streamRotation(in.st)
		mode = rotationMode(rot, has)
	}
	return newGeometry(w, h, mode, sarNum, sarDen, cfg)
}

// targets computes the sampler's times (seconds from the container start).
func (s *sampling) targets() ([]float64, error) {
	dur := s.info.DurationS
	start, end := s.cfg.Start, s.cfg.End
	if s.smp.Kind == SamplerAt {
		return targetTimes(s.smp, s.cfg, grid{spanStart: start}), nil
	}
	if end == 0 || end > dur {
		end = dur
	}
	if start >= end {
		return nil, newErr(ErrBadSpan, s.src.name, nil, "span [%g, %g] starts at or after the end of the video (%.3f s); fix the row's start/end", s.cfg.Start, s.cfg.End, dur)
	}
	fps := float64(s.info.NbFrames) / dur
	vlen := max(1, int(math.Round((end-start)*fps)))
	return targetTimes(s.smp, s.cfg, grid{spanStart: start, spanDur: end - start, vlen: vlen}), nil
}

// scanPackets measures duration and frame count from packet timestamps (containers that
// record neither, e.g. WebM written to a pipe), then reopens the input.
func (s *sampling) scanPackets() error {
	pkt := s.dec.pkt
	count := int64(0)
	minP, maxEnd := int64(math.MaxInt64), int64(math.MinInt64)
	for {
		if s.in.expired() {
			return timeoutErr(s.src.name, s.ctx.Err())
		}
		if err := s.in.fc.ReadFrame(pkt); err != nil {
			if errors.Is(err, astiav.ErrExit) {
				return timeoutErr(s.src.name, err)
			}
			break
		}
		if pkt.StreamIndex() == s.in.vidx {
			count++
			p := pkt.Pts()
			if p == noPTS {
				p = pkt.Dts()
			}
			if p != noPTS {
				minP = min(minP, p)
				maxEnd = max(maxEnd, p+max(pkt.Duration(), 0))
			}
		}
		pkt.Unref()
	}
	if count == 0 || maxEnd <= minP {
		return newErr(ErrCorrupt, s.src.name, nil, "the video stream has no timestamped packets")
	}
	s.info.DurationS = float64(maxEnd-minP) * ratFloat(s.in.st.TimeBase())
	s.info.DurationSource = "packets"
	s.info.NbFrames, s.info.NbFramesSource = count, "packets"
	return s.open()
}

// shouldSeek decides whether seeking to the keyframe before tick saves decoding from pos.
// lastKF is the keyframe of the previous seek: index timestamps are decode times and may sit
// on another timeline than frame pts (edit lists), so a seek must always move forward in the
// index, never repeat, or decoding would loop.
func (s *sampling) shouldSeek(tick, pos, lastKF int64) (bool, int64) {
	if !s.useSeek {
		return false, lastKF
	}
	st := s.in.st
	if indexCount(st) > 0 {
		kf := keyframeBefore(st, tick)
		return kf != math.MinInt64 && kf > pos && kf > lastKF, kf
	}
	if float64(tick-pos)*ratFloat(st.TimeBase()) > 2.0 && tick > lastKF {
		return true, tick
	}
	return false, lastKF
}

// fallback restarts the call as a sequential pass from the beginning.
func (s *sampling) fallback() error {
	s.useSeek = false
	s.fellBack = true
	return s.open()
}

func (s *sampling) decode(wants []want) error {
	i := 0
	have, justSeeked, retried := false, false, false
	var cur int64
	pos := s.streamStart // where decoding continues from when nothing was decoded yet
	lastKF, seekedFor := int64(math.MinInt64), -1
	for i < len(wants) {
		w := wants[i]
		if have && cur >= w.tick {
			if s.lostBefore(cur, w.tick) {
				for _, k := range w.slots {
					s.clip.Missing[k] = true
				}
				i++
				continue
			}
			if err := s.renderSlots(s.dec.frame, cur, w.tick, w.slots); err != nil {
				return err
			}
			i++
			continue
		}
		from := pos
		if have {
			from = cur
		}
		seekNow, kf := false, lastKF
		if !justSeeked && seekedFor != i {
			seekNow, kf = s.shouldSeek(w.tick, from, lastKF)
		}
		if seekNow {
			lastKF, seekedFor, retried = kf, i, false
			if err := s.dec.seek(w.tick); err != nil {
				if s.cfg.Seek == "always" {
					return newErr(ErrUnsupported, s.src.name, err, "seeking failed")
				}
				if err := s.fallback(); err != nil {
					return err
				}
				have, pos, lastKF = false, s.streamStart, math.MinInt64
				continue
			}
			have, justSeeked, s.haveLast = false, true, false
		}
		s.dec.skipBefore = noPTS
		if !s.noSkip {
			s.dec.skipBefore = w.tick
		}
		err := s.dec.next()
		if err == io.EOF {
			if s.dec.maxSkipped != noPTS && (!s.haveLast || s.dec.maxSkipped > pts(s.dec.last)) {
				// A dropped non-reference frame would have been the last one shown: decode
				// the tail again without dropping anything.
				s.noSkip = true
				if err := s.fallback(); err != nil {
					return err
				}
				have, pos, s.haveLast, lastKF = false, s.streamStart, false, math.MinInt64
				continue
			}
			return s.atEOF(wants[i:])
		}
		if err != nil {
			return err
		}
		s.haveLast = true
		p := pts(s.dec.frame)
		if p == noPTS {
			continue
		}
		if justSeeked {
			justSeeked = false
			if p > w.tick && p > s.streamStart && s.cfg.Seek != "always" {
				// The seek landed after its target. Index times are decode times, so with
				// B-frames the keyframe found for a pts target can be shown after it: step
				// back one keyframe, once. If that lands late too, the index or the demuxer
				// cannot be trusted (frames in between may exist): restart sequentially.
				if !retried && indexCount(s.in.st) > 0 {
					retried = true
					if kf2 := keyframeBefore(s.in.st, lastKF-1); kf2 != math.MinInt64 && kf2 < lastKF {
						if err := s.dec.seek(kf2); err == nil {
							lastKF, justSeeked, s.haveLast = kf2, true, false
							continue
						}
					}
				}
				if err := s.fallback(); err != nil {
					return err
				}
				have, pos, s.haveLast, lastKF = false, s.streamStart, false, math.MinInt64
				continue
			}
		}
		have, cur = true, p
	}
	return nil
}

// lostBefore reports whether the frames around target tick were lost: the first frame at or
// after it (pts p) comes more than max(2 frame intervals, 0.25 s) later although frames were
// decoded before it, in a constant-rate stream (average and base rate agree within 1%, so a
// long pause is not a variable-rate file's still stretch). A demuxer resynchronising after
// damaged bytes drops whole blocks this way without any error (Matroska).
func (s *sampling) lostBefore(p, tick int64) bool {
	prev := s.dec.prevPts
	if prev == noPTS || prev >= tick || !constantRate(s.info) || !s.sawDamage() {
		return false
	}
	tb := ratFloat(s.in.st.TimeBase())
	if float64(p-tick)*tb <= endTolerance(s.info, 0) {
		return false
	}
	if s.gapMsg == "" {
		s.gapMsg = fmt.Sprintf("no frame between %.3f s and %.3f s of a %.3g fps stream (the demuxer dropped damaged data)", float64(prev)*tb-s.info.StartTimeS, float64(p)*tb-s.info.StartTimeS, s.info.AvgFPS)
		if _, first := s.in.logs.count(); first != "" {
			s.gapMsg += fmt.Sprintf("; FFmpeg: %q", first)
		}
	}
	return true
}

// sawDamage reports whether FFmpeg reported any damage in this input so far: an error-level
// message of its demuxer or decoder, a rejected packet or a flagged frame. A gap without any
// of these is a variable-rate stream's pause (WebRTC recordings skip frames), not lost data.
func (s *sampling) sawDamage() bool {
	n := 0
	if s.in.logs != nil {
		n, _ = s.in.logs.count()
	}
	return n > 0 || s.decodeErrs+s.dec.decodeErrs > 0 || s.damaged+s.dec.dmg.frames > 0
}

// constantRate reports whether the stream's average and base frame rates agree within 1%.
func constantRate(info Info) bool {
	return info.AvgFPS > 0 && info.RFPS > 0 && math.Abs(info.AvgFPS-info.RFPS) <= 0.01*info.RFPS
}

// atEOF handles targets after the last frame. They get the last frame when the stream ended
// cleanly (see endsNearDeclared) or lie within the last frame's display time; they are
// missing otherwise.
func (s *sampling) atEOF(rest []want) error {
	clean := s.dec.readErr == nil && !s.truncated
	var lastPts, lastEnd int64 = noPTS, noPTS
	if s.haveLast {
		lastPts = pts(s.dec.last)
		d := frameDuration(s.dec.last)
		if d <= 0 {
			d = 1
		}
		lastEnd = lastPts + d
		if !s.endsNearDeclared(lastPts, d) {
			clean, s.shortEnd = false, true
		}
	}
	for _, w := range rest {
		if s.haveLast && lastPts != noPTS && (clean || w.tick < lastEnd) {
			if err := s.renderSlots(s.dec.last, lastPts, w.tick, w.slots); err != nil {
				return err
			}
			continue
		}
		for _, k := range w.slots {
			s.clip.Missing[k] = true
		}
	}
	return nil
}

// endsNearDeclared records where the last frame (pts p, duration d ticks) ends and reports
// whether that is a real end of stream: within max(2 frame intervals, 0.25 s) of the end the
// stream or container declares. Muxers round durations, an audio track may run a few audio
// frames past the video, and B-frame delay shifts the last pts: measured on the corpus, whole
// files end 0 to 0.12 s short of their declared end. Two frame intervals keep one lost final
// frame of a low-rate file (4 fps: 0.5 s) from counting as truncation. A stream that stops
// further from its end (a Matroska/WebM file cut where no Cues index says what is missing) is
// not an end of stream: its later targets are missing, and the file truncated.
func (s *sampling) endsNearDeclared(p, d int64) bool {
	decoded, declared, near := s.endOf(p, d)
	s.clip.ReachedEnd, s.clip.DecodedEndS, s.clip.DeclaredEndS = true, decoded, declared
	return near
}

// endOf is endsNearDeclared's measurement: where the frame at p of d ticks ends and where the
// video is declared to end (seconds from the container start), and whether they are near.
func (s *sampling) endOf(p, d int64) (decoded, declared float64, near bool) {
	tb := ratFloat(s.in.st.TimeBase())
	decoded = float64(p+d)*tb - s.info.StartTimeS
	declared = s.info.DurationS
	if s.info.DurationSource != "container" { // stream durations run from the stream's start
		declared += float64(s.streamStart)*tb - s.info.StartTimeS
	}
	if s.info.DurationS <= 0 {
		return decoded, 0, true // nothing declared: the stream's end is the only end there is
	}
	return decoded, declared, declared-decoded <= endTolerance(s.info, float64(d)*tb)
}

// endTolerance is max(2 frame intervals, 0.25 s), the interval from the average frame rate
// (else the last frame's duration).
func endTolerance(info Info, lastDurS float64) float64 {
	iv := lastDurS
	switch {
	case info.AvgFPS > 0 && info.AvgFPS <= 1000:
		iv = 1 / info.AvgFPS
	case info.RFPS > 0 && info.RFPS <= 1000:
		iv = 1 / info.RFPS
	}
	return max(2*iv, 0.25)
}

// renderSlots renders frame f (pts p), the frame chosen for target tick, into slots.
func (s *sampling) renderSlots(f *astiav.Frame, p, tick int64, slots []int) error {
	fb := s.g.outW * s.g.outH * 3
	tb := ratFloat(s.in.st.TimeBase())
	dm := &s.dec.dmg
	damaged, why := dm.cur, dm.why
	if !damaged && p > tick && dm.prev {
		damaged, why = true, "the frame shown before it is damaged ("+dm.prevWhy+") and the frames between were lost"
	}
	if dm.cur {
		if seq := s.frames + s.dec.frames; seq != s.usedSeq {
			s.usedSeq = seq
			s.usedDamaged++
		}
	}
	if damaged && s.damageMsg == "" {
		s.damageMsg = fmt.Sprintf("the frame at %.3f s (target %.3f s) is damaged: %s", float64(p)*tb-s.info.StartTimeS, float64(tick)*tb-s.info.StartTimeS, why)
	}
	for j, k := range slots {
		s.clip.DamagedAt[k] = damaged
		dst := s.clip.Frames[k*fb : (k+1)*fb]
		if j == 0 {
			if err := s.conv.render(f, s.g, dst); err != nil {
				return err
			}
		} else {
			copy(dst, s.clip.Frames[slots[0]*fb:(slots[0]+1)*fb])
		}
		s.clip.PTS[k] = p
		s.clip.TimeS[k] = float64(p)*tb - s.info.StartTimeS
		s.rendered[k] = true
	}
	return nil
}

// finish applies OnMissing to targets that got no frame.
func (s *sampling) finish() error {
	var miss []int
	for k, ok := range s.rendered {
		if !ok {
			miss = append(miss, k)
			s.clip.Missing[k] = true
		}
	}
	if len(miss) == 0 {
		return nil
	}
	class, why := ErrCorrupt, "the stream has damaged data"
	if s.gapMsg != "" {
		why = "the stream has damaged data: " + s.gapMsg
	}
	if s.truncated || s.dec.readErr != nil {
		class, why = ErrTruncated, "the file ends before the frames it claims"
	}
	if s.shortEnd {
		c := s.clip
		class, why = ErrTruncated, fmt.Sprintf("the stream decodes to %.2f s of a declared %.2f s (%.0f%%): the file ends before the frames it claims", c.DecodedEndS, c.DeclaredEndS, 100*c.DecodedEndS/c.DeclaredEndS)
	}
	T := len(s.rendered)
	if len(miss) == T {
		return newErr(class, s.src.name, s.dec.readErr, "no target has a decodable frame: %s", why)
	}
	if s.cfg.OnMissing != "pad" {
		return newErr(class, s.src.name, s.dec.readErr, "%d of %d targets have no decodable frame: %s (OnMissing \"pad\" repeats neighbours instead)", len(miss), T, why)
	}
	fb := s.g.outW * s.g.outH * 3
	order := make([]int, T) // slots by target time
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return s.clip.Targets[order[a]] < s.clip.Targets[order[b]] })
	for oi, k := range order {
		if s.rendered[k] {
			continue
		}
		src := -1
		for j := oi - 1; j >= 0 && src < 0; j-- {
			if s.rendered[order[j]] {
				src = order[j]
			}
		}
		for j := oi + 1; j < T && src < 0; j++ {
			if s.rendered[order[j]] {
				src = order[j]
			}
		}
		copy(s.clip.Frames[k*fb:(k+1)*fb], s.clip.Frames[src*fb:(src+1)*fb])
		s.clip.PTS[k], s.clip.TimeS[k] = s.clip.PTS[src], s.clip.TimeS[src]
		s.clip.DamagedAt[k] = s.clip.DamagedAt[src]
		s.clip.Padded++
	}
	return nil
}
