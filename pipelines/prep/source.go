package prep

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/umt-dev/umt/schemas"
	"github.com/umt-dev/umt/transforms/manifest"
	"github.com/umt-dev/umt/transforms/storage"
	"github.com/umt-dev/umt/transforms/video"
)

// openVideo opens a row's video: a local file (a path or file:// URI) by path, through
// FFmpeg's own file protocol; gs:// and http(s) through storage.Open, whose reads the
// returned input watches. Close the input when done.
func openVideo(ctx context.Context, uri string) (video.Source, *videoInput, error) {
	if storage.IsLocal(uri) {
		p, err := storage.LocalPath(uri)
		if err != nil {
			return video.Source{}, nil, err
		}
		return video.FileSource(p), nil, nil
	}
	r, err := storage.Open(ctx, uri)
	if err != nil {
		return video.Source{}, nil, err
	}
	in := &videoInput{r: r}
	return video.ReaderSource(uri, in, r.Size()), in, nil
}

// videoInput remembers the first failed read of a remote video: the decoder only sees that a
// read failed (and would call the file truncated), the storage error says why.
type videoInput struct {
	r   storage.Reader
	mu  sync.Mutex
	err error
}

func (v *videoInput) ReadAt(p []byte, off int64) (int, error) {
	n, err := v.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		v.mu.Lock()
		if v.err == nil {
			v.err = err
		}
		v.mu.Unlock()
	}
	return n, err
}

// readErr returns the first failed read (nil for a local file or when every read succeeded).
func (v *videoInput) readErr() error {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.err
}

func (v *videoInput) Close() {
	if v != nil {
		v.r.Close()
	}
}

// failureClass is the one place a row's failure gets its class: storage's classes say whose
// fault a failed open or read was (a definite absence is missing; a server that may come back
// is unavailable) and come before the decoder's view of the same failed read.
func failureClass(err error) schemas.FailureClass {
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
	return video.Class(err)
}

// safeMessage makes an error message about uri storable: the decoded path of a file:// URI
// (whose bytes are not UTF-8) is named by the URI again, and any other foreign byte is
// written as \xNN.
func safeMessage(uri, msg string) string {
	if p, err := storage.LocalPath(uri); err == nil && p != uri {
		msg = strings.ReplaceAll(msg, p, uri)
	}
	return manifest.EscapeInvalid(msg)
}
