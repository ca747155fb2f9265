package video

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrBadConfig marks a SampleConfig or sampler string a person got wrong (a usage error, not a
// property of the video). Class reports it as "internal": validate configs before a run.
var ErrBadConfig = errors.New("invalid sampling configuration")

func configErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, a...))
}

// Sampler kinds.
const (
	SamplerRand    = "rand"    // UMT stage 2 training: one random frame per segment (get_frame_indices 'rand')
	SamplerMiddle  = "middle"  // UMT stage 2 evaluation: the middle frame of each segment
	SamplerFPS     = "fps"     // "fps<N>": N frames per second, centred in each 1/N s slot (UMT 'fpsX')
	SamplerSegment = "segment" // UMT stage 1 (VideoMAE TSN): k*avg + randint(0, avg)
	SamplerAt      = "at"      // "at:t1,t2,...": explicit times in seconds from the span start
)

// Sampler is a parsed sampler string.
type Sampler struct {
	Kind  string
	FPS   float64   // for SamplerFPS
	Times []float64 // for SamplerAt, seconds from the span start
}

func (s Sampler) String() string {
	switch s.Kind {
	case SamplerFPS:
		return "fps" + strconv.FormatFloat(s.FPS, 'g', -1, 64)
	case SamplerAt:
		parts := make([]string, len(s.Times))
		for i, t := range s.Times {
			parts[i] = strconv.FormatFloat(t, 'f', -1, 64)
		}
		return "at:" + strings.Join(parts, ",")
	}
	return s.Kind
}

// ParseSampler parses "rand", "middle", "segment", "fps<N>" (N > 0, e.g. fps1, fps0.5) or
// "at:t1,t2,..." (seconds ≥ 0). Errors wrap ErrBadConfig and say what is accepted.
func ParseSampler(s string) (Sampler, error) {
	const accepted = `accepted: rand, middle, segment, fps<N> (e.g. fps1, fps0.5), at:t1,t2,... (seconds)`
	switch {
	case s == SamplerRand || s == SamplerMiddle || s == SamplerSegment:
		return Sampler{Kind: s}, nil
	case strings.HasPrefix(s, "fps"):
		v, err := strconv.ParseFloat(s[3:], 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) || v > 1000 {
			return Sampler{}, configErr("sampler %q: the rate after fps must be a number in (0, 1000]; %s", s, accepted)
		}
		return Sampler{Kind: SamplerFPS, FPS: v}, nil
	case strings.HasPrefix(s, "at:"):
		var ts []float64
		for _, p := range strings.Split(s[3:], ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return Sampler{}, configErr("sampler %q: %q is not a time in seconds ≥ 0; %s", s, p, accepted)
			}
			ts = append(ts, v)
		}
		if len(ts) > MaxFrames {
			return Sampler{}, configErr("sampler %q: %d times, at most %d", s, len(ts), MaxFrames)
		}
		return Sampler{Kind: SamplerAt, Times: ts}, nil
	}
	return Sampler{}, configErr("unknown sampler %q; %s", s, accepted)
}

// Bounds of the configuration.
const (
	MaxFrames       = 4096 // frames per clip
	MaxSize         = 4096 // output side in pixels
	DefaultSize     = 224
	DefaultFrames   = 8
	DefaultDeadline = 2 * time.Minute
)

// Limits bound the work and memory spent on one video; exceeding one is ErrTooLarge.
// Zero fields take the defaults of DefaultLimits.
type Limits struct {
	MaxPixels       int64   // coded width×height; default 8192×4352 (8K)
	MaxDurationS    float64 // seconds; default 6 h
	MaxDecodedBytes int64   // raw decoded picture bytes per call (bounds CPU on long videos); default 64 GiB
	MaxOutputBytes  int64   // bytes of Clip.Frames; default 512 MiB
}

// DefaultLimits are the limits used for zero fields.
var DefaultLimits = Limits{
	MaxPixels:       8192 * 4352,
	MaxDurationS:    6 * 3600,
	MaxDecodedBytes: 64 << 30,
	MaxOutputBytes:  512 << 20,
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultLimits.MaxPixels
	}
	if l.MaxDurationS <= 0 {
		l.MaxDurationS = DefaultLimits.MaxDurationS
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = DefaultLimits.MaxDecodedBytes
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultLimits.MaxOutputBytes
	}
	return l
}

// SampleConfig says which frames to take from a video and how to render them.
// Start from DefaultSampleConfig; the zero value is not valid (Size and Frames are 0).
type SampleConfig struct {
	// Sampler is "rand", "middle", "segment", "fps<N>" or "at:t1,t2,..." (see ParseSampler).
	Sampler string
	// Frames is T, the number of frames (for fps<N>: the maximum, 0 = no cap but MaxFrames).
	Frames int
	// Size is S. With Crop the output is S×S (short side scaled to S, centre crop); without,
	// the long side is scaled to S and the aspect ratio kept ("max side" mode for export).
	Size int
	Crop bool
	// Interp is the swscale interpolation: bicubic (default), bilinear, fast_bilinear, area,
	// neighbor, bicublin, gauss, sinc, lanczos, spline.
	Interp string
	// Seed makes rand and segment reproducible; use SeedFor(clipID).
	Seed uint64
	// Start and End restrict sampling to [Start, End] seconds from the start of the video;
	// 0/0 is the whole video, End 0 means "to the end".
	Start, End float64
	// OnMissing decides what happens when some targets have no decodable frame (a truncated
	// or damaged file): "fail" (default) returns the error, "pad" repeats the nearest decoded
	// frame and counts it in Clip.Padded.
	OnMissing string
	// OnCorrupt decides what happens when a sampled frame is damaged (the decoder flagged
	// or concealed it, or it lies in a stretch the decoder could not rebuild; see damage.go):
	// "fail" (default) returns ErrCorrupt naming the frame's time and FFmpeg's report, "keep"
	// returns the clip with the damaged frames counted in Clip.Damaged.
	OnCorrupt string
	// Deadline bounds the whole call (open, probe, decode); 0 means DefaultDeadline.
	Deadline time.Duration
	// NoAutorotate keeps the stored orientation (ffmpeg -noautorotate).
	NoAutorotate bool
	// FixSAR scales to square pixels using the sample aspect ratio. Off by default: UMT
	// (decord) and the ffmpeg reference frames both work on stored pixels.
	FixSAR bool
	// Threads is the decoder's thread count; 0 means 1 (parallelism comes from running
	// many videos at once).
	Threads int
	// Seek is "auto" (default: seek to the keyframe before each target, fall back to a
	// sequential pass when seeking proves unreliable), "never" (always sequential) or
	// "always" (never fall back; for tests and benchmarks).
	Seek   string
	Limits Limits
}

// DefaultSampleConfig is UMT's evaluation setting: 8 middle frames, 224×224 centre crop,
// bicubic, fail on missing frames.
func DefaultSampleConfig() SampleConfig {
	return SampleConfig{
		Sampler:   SamplerMiddle,
		Frames:    DefaultFrames,
		Size:      DefaultSize,
		Crop:      true,
		Interp:    "bicubic",
		OnMissing: "fail",
		OnCorrupt: "fail",
		Seek:      "auto",
	}
}

var interps = map[string]int{
	"fast_bilinear": 1, "bilinear": 2, "bicubic": 4, "experimental": 8, "neighbor": 0x10,
	"area": 0x20, "bicublin": 0x40, "gauss": 0x80, "sinc": 0x100, "lanczos": 0x200, "spline": 0x400,
}

// swsFlags returns the swscale flag for the interpolation name ("" = bicubic).
func swsFlags(name string) (int, bool) {
	if name == "" {
		name = "bicubic"
	}
	f, ok := interps[name]
	return f, ok
}

// Validate checks the configuration and returns the parsed sampler. Errors wrap ErrBadConfig.
func (c SampleConfig) Validate() (Sampler, error) {
	s, err := ParseSampler(c.Sampler)
	if err != nil {
		return s, err
	}
	minFrames := 1
	if s.Kind == SamplerFPS || s.Kind == SamplerAt {
		minFrames = 0
	}
	if c.Frames < minFrames || c.Frames > MaxFrames {
		return s, configErr("frames %d: want %d..%d", c.Frames, minFrames, MaxFrames)
	}
	if c.Size < 8 || c.Size > MaxSize {
		return s, configErr("size %d: want 8..%d", c.Size, MaxSize)
	}
	if _, ok := swsFlags(c.Interp); !ok {
		return s, configErr("interp %q: want one of bicubic, bilinear, fast_bilinear, area, neighbor, bicublin, gauss, sinc, lanczos, spline", c.Interp)
	}
	if c.Start < 0 || c.End < 0 || math.IsNaN(c.Start) || math.IsNaN(c.End) || math.IsInf(c.Start, 0) || math.IsInf(c.End, 0) {
		return s, configErr("span [%g, %g]: times must be finite and ≥ 0", c.Start, c.End)
	}
	if c.End != 0 && c.End <= c.Start {
		return s, configErr("span [%g, %g]: end must be after start (or 0 for the end of the video)", c.Start, c.End)
	}
	switch c.OnMissing {
	case "", "fail", "pad":
	default:
		return s, configErr("on-missing %q: want fail or pad", c.OnMissing)
	}
	switch c.OnCorrupt {
	case "", "fail", "keep":
	default:
		return s, configErr("on-corrupt %q: want fail or keep", c.OnCorrupt)
	}
	switch c.Seek {
	case "", "auto", "never", "always":
	default:
		return s, configErr("seek %q: want auto, never or always", c.Seek)
	}
	if c.Deadline < 0 || c.Threads < 0 || c.Threads > 64 {
		return s, configErr("deadline %v / threads %d: want deadline ≥ 0 and threads 0..64", c.Deadline, c.Threads)
	}
	return s, nil
}
