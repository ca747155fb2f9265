package video

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Source is where a video's bytes come from: a local file (opened by FFmpeg's own file
// protocol) or any io.ReaderAt of known size (a GCS object, an HTTP body with range reads, a
// byte slice), read through FFmpeg custom I/O without a temporary copy.
type Source struct {
	name string
	path string
	r    io.ReaderAt
	size int64
}

// FileSource reads the local file at path. Only the file protocol is used, whatever the
// path looks like ("http://x" is a file name here).
func FileSource(path string) Source { return Source{name: path, path: path} }

// ReaderSource reads size bytes from r; name labels errors and picks the container hint
// (its extension). r must be safe for the calls of one Probe/Sample at a time; ReadAt calls
// should honour their own deadline (FFmpeg's interrupt callback cannot stop a blocked read,
// though every read starts only while the call's deadline has not passed).
func ReaderSource(name string, r io.ReaderAt, size int64) Source {
	return Source{name: name, r: r, size: size}
}

// Name is the label used in errors.
func (s Source) Name() string { return s.name }

func (s Source) ext() string { return filepath.Ext(s.name) }

// stat returns the size, classifying a missing or empty input.
func (s Source) stat() (int64, error) {
	if s.r == nil && s.path == "" {
		return 0, newErr(ErrMissing, s.name, nil, "empty source: build it with FileSource or ReaderSource")
	}
	if s.r != nil {
		if s.size < 0 {
			return 0, newErr(ErrBadConfig, s.name, nil, "negative size %d", s.size)
		}
		if s.size == 0 {
			return 0, newErr(ErrEmpty, s.name, nil, "the input has 0 bytes; re-fetch or drop it")
		}
		return s.size, nil
	}
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return 0, newErr(ErrMissing, s.name, nil, "no such file; check the manifest path")
	case err != nil:
		return 0, newErr(ErrMissing, s.name, err, "cannot stat the file")
	case fi.IsDir():
		return 0, newErr(ErrNotMedia, s.name, nil, "is a directory, not a video file")
	case fi.Size() == 0:
		return 0, newErr(ErrEmpty, s.name, nil, "the file has 0 bytes; re-download or drop it")
	}
	return fi.Size(), nil
}

// head reads up to n bytes from the start (for container sniffing on open failures).
func (s Source) head(n int) []byte {
	buf := make([]byte, n)
	var got int
	if s.r != nil {
		got, _ = s.r.ReadAt(buf, 0)
	} else {
		f, err := os.Open(s.path)
		if err != nil {
			return nil
		}
		defer f.Close()
		got, _ = io.ReadFull(f, buf)
	}
	return buf[:got]
}

// readerAt gives random access for the box walker on open failures.
func (s Source) readerAt() (io.ReaderAt, func(), error) {
	if s.r != nil {
		return s.r, func() {}, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", s.path, err)
	}
	return f, func() { f.Close() }, nil
}

// SeekerSource reads an io.ReadSeeker (an *os.File, a seekable HTTP body wrapper, ...); its
// size is found by seeking to the end. Reads are serialised, so r is used by one goroutine
// at a time.
func SeekerSource(name string, r io.ReadSeeker) (Source, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return Source{}, newErr(ErrMissing, name, err, "cannot seek the reader to find its size")
	}
	return ReaderSource(name, &seekerAt{r: r}, size), nil
}

type seekerAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekerAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.r, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}
