package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Error classes. Errors returned by a Store, Open and Write wrap one of these where they
// apply, so callers decide with errors.Is whose fault a failure is.
var (
	// ErrNotExist: a definite absence (no such file or object, HTTP 404 or 410).
	ErrNotExist = errors.New("object does not exist")
	// ErrUnavailable: a failure that may pass (a refused, cut or timed-out connection, HTTP
	// 408, 429 or 5xx) and that persisted through every retry; trying again later may succeed.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrDenied: the server refused the request for good (HTTP 401, 403 or another 4xx).
	ErrDenied = errors.New("access denied")
	// ErrTooLarge: a download that would pass Options.MaxDownload.
	ErrTooLarge   = errors.New("object too large")
	ErrExists     = errors.New("object already exists")
	ErrInvalidURI = errors.New("invalid storage URI")
	ErrName       = errors.New("invalid object name")
)

// Store is a directory of objects: a local directory or a gs://bucket/prefix.
type Store interface {
	// URI is the root this store was opened with, e.g. "/data/ds" or "gs://b/ds".
	URI() string
	// Open opens name for random-access reads.
	Open(ctx context.Context, name string) (Reader, error)
	// Create stages a new object; nothing is visible under name until Writer.Commit.
	Create(ctx context.Context, name string, opts CreateOptions) (Writer, error)
	// List returns the committed objects whose names start with prefix, sorted by name,
	// recursively. Hidden staging files are never listed.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Stat describes one object; ErrNotExist if it is absent.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// Delete removes an object; deleting an absent object is not an error.
	Delete(ctx context.Context, name string) error
	// Exists reports whether name is committed.
	Exists(ctx context.Context, name string) (bool, error)
	// LocalPath returns the file path of name when the store is on local disk (for mmap).
	LocalPath(name string) (string, bool)
	// Close releases the store's clients.
	Close() error
}

// CreateOptions control how Writer.Commit publishes an object.
type CreateOptions struct {
	// IfNotExists makes Commit fail with ErrExists when name already holds a different
	// object (exactly-once publishing). A retried commit of the same bytes succeeds.
	IfNotExists bool
	// Metadata is stored with the object on GCS (custom metadata); ignored on local disk.
	Metadata map[string]string
	// ContentType of the object on GCS; default application/octet-stream.
	ContentType string
}

// Writer stages an object's bytes locally until Commit publishes them.
type Writer interface {
	io.Writer
	// StagedPath is the local file holding the bytes written so far, so a caller can read
	// them back (verify) before Commit.
	StagedPath() string
	// Commit publishes the staged bytes under the final name atomically and removes the
	// staging file. After an error nothing is visible under the final name unless it
	// already was; call Abort to drop the staging file.
	Commit(ctx context.Context) error
	// Abort drops the staged bytes. It is safe after Commit and more than once.
	Abort() error
}

// Reader reads an object at arbitrary offsets.
type Reader interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// ObjectInfo describes a committed object.
type ObjectInfo struct {
	Name     string            // relative to the store root
	Size     int64             // bytes
	ModTime  time.Time         // last modification (local) or update (GCS)
	CRC32C   uint32            // GCS only (0 on local disk)
	Metadata map[string]string // GCS custom metadata (nil on local disk)

	generation int64 // GCS object generation
}

// Options tune remote calls. Zero values take the defaults.
type Options struct {
	OpTimeout     time.Duration // deadline of one metadata call or range read attempt (default 60s)
	UploadTimeout time.Duration // deadline of one whole upload attempt (default 15m)
	MaxAttempts   int           // attempts per call, first included (default 6)
	BackoffMin    time.Duration // first retry delay (default 100ms), doubling
	BackoffMax    time.Duration // cap of the retry delay (default 5s)
	ChunkSize     int           // GCS resumable chunk size (default 8 MiB); 0 < size < 256 KiB means one request
	TempDir       string        // where gs:// writers stage their bytes (default os.TempDir())
	ReadCacheSize int64         // bytes of small-read cache per remote reader (default 8 MiB)
	// MaxDownload caps the temporary copy Open makes of an http(s) resource whose server
	// ignores Range requests (default 2 GiB); a larger body fails with ErrTooLarge.
	MaxDownload int64
	// DownloadTimeout is the deadline of one attempt at such a whole-body download (default 15m).
	DownloadTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.OpTimeout <= 0 {
		o.OpTimeout = 60 * time.Second
	}
	if o.UploadTimeout <= 0 {
		o.UploadTimeout = 15 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Second
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = 8 << 20
	}
	if o.ReadCacheSize <= 0 {
		o.ReadCacheSize = 8 << 20
	}
	if o.MaxDownload <= 0 {
		o.MaxDownload = 2 << 30
	}
	if o.DownloadTimeout <= 0 {
		o.DownloadTimeout = 15 * time.Minute
	}
	return o
}

// OpenStore opens the store rooted at uri: "gs://bucket[/prefix]", "file:///path" or a local path.
// A local root need not exist yet; it is created by the first Commit.
func OpenStore(ctx context.Context, uri string, opts ...Options) (Store, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o = o.withDefaults()
	switch {
	case strings.HasPrefix(uri, "gs://"):
		return openGCS(ctx, uri, o)
	case strings.HasPrefix(uri, "file://"):
		p, err := fileURIPath(uri)
		if err != nil {
			return nil, err
		}
		return openLocal(p)
	case strings.Contains(uri, "://"):
		return nil, fmt.Errorf("%w: %q: use a local path, file:// or gs://bucket/prefix", ErrInvalidURI, uri)
	case uri == "":
		return nil, fmt.Errorf("%w: empty URI: give a local path or gs://bucket/prefix", ErrInvalidURI)
	default:
		return openLocal(uri)
	}
}

// Join joins a store URI and a relative name the way Store implementations do.
func Join(uri, name string) string {
	return strings.TrimRight(uri, "/") + "/" + name
}

// checkName rejects names that could escape the root or that collide with staging files.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "\\") ||
		path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("%w: %q: want a clean relative path like \"shard-a-00000.arrow\"", ErrName, name)
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return fmt.Errorf("%w: %q: names starting with '.' are reserved for staging files", ErrName, name)
		}
	}
	return nil
}

// backoff returns the delay before retry number attempt (1-based).
func (o Options) backoff(attempt int) time.Duration {
	d := o.BackoffMin << (attempt - 1)
	if d <= 0 || d > o.BackoffMax {
		d = o.BackoffMax
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
