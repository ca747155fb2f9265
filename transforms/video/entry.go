package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/storage"
)

// Sampling is how a dataset's clips are sampled from manifest entries: what `umt prep` and
// `umt export` take from the same flags, hashed (String) into every clip id.
type Sampling struct {
	Frames    int    // T
	Size      int    // S: frames are S×S (short side scaled, centre crop)
	Sampler   string // rand, middle, segment, fpsN, at:…
	Interp    string // swscale interpolation
	Seed      int64  // seeds the sampler, with the clip id
	OnMissing string // fail or pad
	OnCorrupt string // fail or keep
	// Deadline bounds each clip's decode (0: none).
	Deadline time.Duration
}

// String is the sampler configuration hashed into every clip id: everything that decides which
// pixels a clip holds (not the deadline, not the corruption policy).
func (s Sampling) String() string {
	return fmt.Sprintf("sampler=%s frames=%d size=%d crop=1 interp=%s seed=%d on_missing=%s",
		s.Sampler, s.Frames, s.Size, s.Interp, s.Seed, s.OnMissing)
}

// For is the sampling configuration of the clip clipID over [start, end].
func (s Sampling) For(clipID string, start, end float64) SampleConfig {
	sc := DefaultSampleConfig()
	sc.Sampler, sc.Frames, sc.Size, sc.Crop, sc.Interp = s.Sampler, s.Frames, s.Size, true, s.Interp
	sc.Seed = SeedFor(clipID) ^ uint64(s.Seed)
	sc.Start, sc.End, sc.OnMissing, sc.Deadline = start, end, s.OnMissing, s.Deadline
	sc.OnCorrupt = s.OnCorrupt
	return sc
}

// SampleEntry samples the manifest entry at uri as one clip: a video through Sample, an image
// entry (image) through SampleImage as a 1-frame clip, repeated to cfg.Frames frames when
// cfg.OnMissing is "pad" (the copies count as padded) and unsupported otherwise when
// cfg.Frames > 1. Local files are read by path through FFmpeg's file protocol; gs:// and
// http(s) through storage, and a failed remote read is returned as the storage error (whose
// class says whose fault it was), not as a truncated file. Every decode has cfg.Deadline.
func SampleEntry(ctx context.Context, uri string, image bool, cfg SampleConfig) (*Clip, error) {
	if image && cfg.Frames > 1 && cfg.OnMissing != "pad" {
		return nil, newErr(ErrUnsupported, uri, nil, "an image entry is a 1-frame clip, but %d frames per clip were asked for; prepare image corpora with --frames 1 (UMT trains image-text data as 1-frame clips) or pass --on-missing=pad to repeat the image", cfg.Frames)
	}
	src, in, err := openEntry(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer in.close()
	var c *Clip
	if image {
		if c, err = SampleImage(ctx, src, cfg); err == nil {
			repeatFrame(c, cfg.Frames)
		}
	} else {
		c, err = Sample(ctx, src, cfg)
	}
	if err != nil && ctx.Err() == nil {
		if rerr := in.err(); rerr != nil {
			err = rerr // a failed remote read, not a damaged file
		}
	}
	return c, err
}

// FailureClass is the one place a manifest entry's failure gets its class: storage's classes
// say whose fault a failed open or read was (a definite absence is missing; a server that may
// come back is unavailable) and come before the decoder's view of the same failed read.
func FailureClass(err error) schemas.FailureClass {
	switch {
	case errors.Is(err, storage.ErrUnavailable):
		return schemas.ClassUnavailable
	case errors.Is(err, storage.ErrDenied):
		return schemas.ClassDenied
	case errors.Is(err, storage.ErrNotExist):
		return schemas.ClassMissing
	case errors.Is(err, storage.ErrTooLarge):
		return schemas.ClassTooLarge
	case errors.Is(err, storage.ErrInvalidURI):
		return schemas.ClassUnsupported
	}
	return Class(err)
}

// openEntry opens uri: a local file (a path or file:// URI) by path; gs:// and http(s) through
// storage.Open, whose reads the returned input watches (nil for a local file).
func openEntry(ctx context.Context, uri string) (Source, *remoteInput, error) {
	if storage.IsLocal(uri) {
		p, err := storage.LocalPath(uri)
		if err != nil {
			return Source{}, nil, err
		}
		return FileSource(p), nil, nil
	}
	r, err := storage.Open(ctx, uri)
	if err != nil {
		return Source{}, nil, err
	}
	in := &remoteInput{r: r}
	return ReaderSource(uri, in, r.Size()), in, nil
}

// remoteInput remembers the first failed read of a remote video: the decoder only sees that a
// read failed (and would call the file truncated), the storage error says why.
type remoteInput struct {
	r   storage.Reader
	mu  sync.Mutex
	fst error
}

func (v *remoteInput) ReadAt(p []byte, off int64) (int, error) {
	n, err := v.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		v.mu.Lock()
		if v.fst == nil {
			v.fst = err
		}
		v.mu.Unlock()
	}
	return n, err
}

// err returns the first failed read (nil for a local file or when every read succeeded).
func (v *remoteInput) err() error {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.fst
}

func (v *remoteInput) close() {
	if v != nil {
		v.r.Close()
	}
}

// repeatFrame pads an image's single frame to T identical frames, each at time 0; the T−1
// copies count as padded.
func repeatFrame(c *Clip, T int) {
	if T <= 1 || len(c.PTS) != 1 {
		return
	}
	c.Padded += T - 1
	one := c.Frames
	c.Frames = make([]byte, 0, T*len(one))
	for range T {
		c.Frames = append(c.Frames, one...)
	}
	c.PTS = make([]int64, T)
	c.TimeS = make([]float64, T)
}

// SpanEnd is the end a clip row records for a manifest span [start, end]: end itself, or for a
// span "to the end" (end < start) the time of the clip's last frame, never before start.
func SpanEnd(start, end float64, frameTimes []float64) float64 {
	if end >= start {
		return end
	}
	for _, t := range frameTimes {
		end = max(end, t)
	}
	return max(end, start)
}
