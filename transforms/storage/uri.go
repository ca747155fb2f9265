package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// Open opens the one object at uri for random-access reads: a local path, file:///path
// (percent-encoded, so any byte string names a file), gs://bucket/object or an http(s) URL.
// Remote reads have a deadline per call and are retried with back-off; an HTTP server that
// ignores Range is read once into a bounded temporary copy (Options.MaxDownload). Errors wrap
// ErrNotExist, ErrUnavailable, ErrDenied, ErrTooLarge or ErrInvalidURI where they apply.
// Close the Reader when done.
func Open(ctx context.Context, uri string, opts ...Options) (Reader, error) {
	o := options(opts)
	switch scheme(uri) {
	case "gs":
		bucket, object, err := splitGS(uri)
		if err != nil {
			return nil, err
		}
		st, err := bucketStore(bucket, o)
		if err != nil {
			return nil, err
		}
		return st.openObject(ctx, object)
	case "http", "https":
		return openHTTP(ctx, uri, o)
	}
	p, err := LocalPath(uri)
	if err != nil {
		return nil, err
	}
	return openLocalFile(p)
}

// LocalPath returns the file path a local URI (a path or file:///path) names, and
// ErrInvalidURI for any other URI.
func LocalPath(uri string) (string, error) {
	switch scheme(uri) {
	case "":
		if uri == "" {
			return "", fmt.Errorf("%w: empty path", ErrInvalidURI)
		}
		return uri, nil
	case "file":
		return fileURIPath(uri)
	}
	return "", fmt.Errorf("%w: %q is not a local path", ErrInvalidURI, uri)
}

// IsLocal reports whether uri names a local file (a path or file://).
func IsLocal(uri string) bool {
	s := scheme(uri)
	return s == "" || s == "file"
}

// Write writes the object at uri atomically from what fn writes: on local disk through a
// synced temporary file beside it and a rename (parent directories are created), on gs:// as
// one upload that becomes visible only when complete (retried as a whole). An existing object
// is replaced. If fn fails, nothing changes under uri.
func Write(ctx context.Context, uri string, fn func(io.Writer) error, opts ...Options) error {
	o := options(opts)
	var st Store
	var name string
	switch scheme(uri) {
	case "gs":
		bucket, object, err := splitGS(uri)
		if err != nil {
			return err
		}
		gs, err := bucketStore(bucket, o)
		if err != nil {
			return err
		}
		st, name = gs, object
	case "", "file":
		p, err := LocalPath(uri)
		if err != nil {
			return err
		}
		ls, err := openLocal(filepath.Dir(p))
		if err != nil {
			return err
		}
		st, name = ls, filepath.Base(p)
	default:
		return fmt.Errorf("%w: cannot write to %q: write to a local path, file:// or gs://", ErrInvalidURI, uri)
	}
	if err := putWith(ctx, st, name, CreateOptions{ContentType: mime.TypeByExtension(path.Ext(name))}, fn); err != nil {
		return fmt.Errorf("write %s: %w", uri, err)
	}
	return nil
}

// Put publishes data under name in st in one step: Create, Write, Commit, and Abort on any
// error, so nothing half-written is ever visible under name.
func Put(ctx context.Context, st Store, name string, data []byte, opts CreateOptions) error {
	return putWith(ctx, st, name, opts, func(w io.Writer) error { _, err := w.Write(data); return err })
}

func putWith(ctx context.Context, st Store, name string, opts CreateOptions, fn func(io.Writer) error) error {
	w, err := st.Create(ctx, name, opts)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := fn(w); err != nil {
		return err
	}
	return w.Commit(ctx)
}

// WriteFile writes data to uri atomically (see Write).
func WriteFile(ctx context.Context, uri string, data []byte, opts ...Options) error {
	return Write(ctx, uri, func(w io.Writer) error { _, err := w.Write(data); return err }, opts...)
}

func options(opts []Options) Options {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return o.withDefaults()
}

// scheme returns the lower-case scheme of uri ("" for a plain path).
func scheme(uri string) string {
	i := strings.Index(uri, "://")
	if i <= 0 || strings.ContainsAny(uri[:i], "/\\.") {
		return ""
	}
	return strings.ToLower(uri[:i])
}

// fileURIPath decodes file:///abs/path (or file://localhost/abs/path); percent escapes may
// spell any byte, so a file name that is not UTF-8 has a valid URI.
func fileURIPath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidURI, uri, err)
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("%w: %q names host %q; write a local file as file:///absolute/path", ErrInvalidURI, uri, u.Host)
	}
	if u.Path == "" {
		return "", fmt.Errorf("%w: %q has no path", ErrInvalidURI, uri)
	}
	return u.Path, nil
}

// splitGS splits gs://bucket/object.
func splitGS(uri string) (bucket, object string, err error) {
	bucket, object, _ = strings.Cut(uri[len("gs://"):], "/")
	if bucket == "" || object == "" || strings.HasSuffix(object, "/") || strings.ContainsAny(bucket, " \\") {
		return "", "", fmt.Errorf("%w: %q: want gs://bucket/object", ErrInvalidURI, uri)
	}
	return bucket, object, nil
}

// gcsClients keeps one client per bucket and options for Open and Write, for the life of
// the process: a client holds a connection pool and credentials worth reusing across calls.
var gcsClients struct {
	sync.Mutex
	m map[gcsKey]*gcsStore
}

type gcsKey struct {
	bucket, emulator string
	o                Options
}

func bucketStore(bucket string, o Options) (*gcsStore, error) {
	k := gcsKey{bucket, os.Getenv("STORAGE_EMULATOR_HOST"), o}
	gcsClients.Lock()
	defer gcsClients.Unlock()
	if st, ok := gcsClients.m[k]; ok {
		return st, nil
	}
	// Not the caller's context: the client's credentials outlive this call.
	st, err := openGCS(context.Background(), "gs://"+bucket, o)
	if err != nil {
		return nil, err
	}
	if gcsClients.m == nil {
		gcsClients.m = map[gcsKey]*gcsStore{}
	}
	gcsClients.m[k] = st
	return st, nil
}

// openLocalFile opens a local file, classifying an absent one as ErrNotExist.
func openLocalFile(p string) (Reader, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no such file %s; check the path (relative paths are relative to the current directory): %w", p, ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a file: %w", p, ErrNotExist)
	}
	return localFile{f, fi.Size()}, nil
}
