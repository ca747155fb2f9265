package video

import (
	"context"
	"errors"
	"fmt"

	"github.com/umt-dev/umt/schemas"
)

// Error classes. Every error returned by Probe and Sample wraps exactly one of these sentinels,
// so callers branch with errors.Is and the failures table stores Class(err).
var (
	ErrEmpty         = errors.New("empty input")
	ErrNotMedia      = errors.New("not a media file")
	ErrNoVideoStream = errors.New("no video stream")
	ErrTruncated     = errors.New("truncated file")
	ErrCorrupt       = errors.New("corrupt media")
	ErrUnsupported   = errors.New("unsupported media")
	ErrTooLarge      = errors.New("exceeds a configured limit")
	ErrTimeout       = errors.New("deadline exceeded")
	ErrMissing       = errors.New("input not found")
	// ErrBadSpan is a manifest row's span (start/end) that the video cannot satisfy: it
	// starts at or after the video's end, or is not an ordered interval of finite times.
	ErrBadSpan = errors.New("bad span")
)

var classes = []struct {
	err   error
	class schemas.FailureClass
}{
	{ErrEmpty, schemas.ClassEmpty},
	{ErrNotMedia, schemas.ClassNotMedia},
	{ErrNoVideoStream, schemas.ClassNoVideoStream},
	{ErrTruncated, schemas.ClassTruncated},
	{ErrCorrupt, schemas.ClassCorrupt},
	{ErrUnsupported, schemas.ClassUnsupported},
	{ErrTooLarge, schemas.ClassTooLarge},
	{ErrTimeout, schemas.ClassTimeout},
	{ErrMissing, schemas.ClassMissing},
	{ErrBadSpan, schemas.ClassBadSpan},
}

// Classes lists every class Class can return for a non-nil error, internal last.
func Classes() []schemas.FailureClass {
	out := make([]schemas.FailureClass, 0, len(classes)+1)
	for _, c := range classes {
		out = append(out, c.class)
	}
	return append(out, schemas.ClassInternal)
}

// Class names the class of err: "" for nil, the class of the sentinel err wraps, or internal
// for an error this package did not classify (a bug or an environment problem, never bad
// input). Context cancellation and deadline errors count as timeout.
func Class(err error) schemas.FailureClass {
	if err == nil {
		return ""
	}
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return schemas.ClassTimeout
	}
	return schemas.ClassInternal
}

// classed wraps a sentinel with the input's name and a message a user can act on, keeping
// an optional cause (an FFmpeg error) visible to errors.Is/As.
type classed struct {
	class error
	name  string
	msg   string
	cause error
}

func (e *classed) Error() string {
	s := e.class.Error()
	if e.name != "" {
		s = e.name + ": " + s
	}
	if e.msg != "" {
		s += ": " + e.msg
	}
	if e.cause != nil {
		s += " (" + e.cause.Error() + ")"
	}
	return s
}

func (e *classed) Unwrap() []error {
	if e.cause != nil {
		return []error{e.class, e.cause}
	}
	return []error{e.class}
}

func newErr(class error, name string, cause error, format string, a ...any) error {
	return &classed{class: class, name: name, msg: fmt.Sprintf(format, a...), cause: cause}
}
