package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	gcs "cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

type gcsStore struct {
	uri    string
	bucket *gcs.BucketHandle
	prefix string // "" or ends with "/"
	client *gcs.Client
	o      Options
}

func openGCS(ctx context.Context, uri string, o Options) (*gcsStore, error) {
	rest := strings.TrimPrefix(uri, "gs://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" || strings.ContainsAny(bucket, " \\") {
		return nil, fmt.Errorf("%w: %q: want gs://bucket/prefix", ErrInvalidURI, uri)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := checkName(prefix); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrInvalidURI, uri, err)
		}
		prefix += "/"
	}
	client, err := gcs.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("gs client for %s (set up Application Default Credentials, e.g. `gcloud auth application-default login`): %w", uri, err)
	}
	// Retry every call, uploads included: our uploads either carry a does-not-exist
	// precondition or rewrite identical bytes, so a repeat is harmless.
	client.SetRetry(
		gcs.WithPolicy(gcs.RetryAlways),
		gcs.WithMaxAttempts(o.MaxAttempts),
		gcs.WithBackoff(gax.Backoff{Initial: o.BackoffMin, Max: o.BackoffMax, Multiplier: 2}),
	)
	return &gcsStore{uri: "gs://" + bucket + "/" + prefix, bucket: client.Bucket(bucket), prefix: prefix, client: client, o: o}, nil
}

func (s *gcsStore) URI() string                     { return strings.TrimSuffix(s.uri, "/") }
func (s *gcsStore) Close() error                    { return s.client.Close() }
func (s *gcsStore) LocalPath(string) (string, bool) { return "", false }

func (s *gcsStore) object(name string) (*gcs.ObjectHandle, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return s.bucket.Object(s.prefix + name), nil
}

func gcsErr(err error, what string) error { return classify(err, what) }

func (s *gcsStore) info(a *gcs.ObjectAttrs) ObjectInfo {
	return ObjectInfo{Name: strings.TrimPrefix(a.Name, s.prefix), Size: a.Size, ModTime: a.Updated, CRC32C: a.CRC32C, Metadata: a.Metadata, generation: a.Generation}
}

func (s *gcsStore) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	obj, err := s.object(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	defer cancel()
	a, err := obj.Attrs(ctx)
	if err != nil {
		return ObjectInfo{}, gcsErr(err, "stat "+s.uri+name)
	}
	return s.info(a), nil
}

func (s *gcsStore) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.Stat(ctx, name)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *gcsStore) Delete(ctx context.Context, name string) error {
	obj, err := s.object(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
	defer cancel()
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, gcs.ErrObjectNotExist) {
		return gcsErr(err, "delete "+s.uri+name)
	}
	return nil
}

func (s *gcsStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	token := ""
	for {
		// One page per call, each under its own deadline; the client retries transient errors.
		pctx, cancel := context.WithTimeout(ctx, s.o.OpTimeout)
		var page []*gcs.ObjectAttrs
		next, err := iterator.NewPager(s.bucket.Objects(pctx, &gcs.Query{Prefix: s.prefix + prefix}), 1000, token).NextPage(&page)
		cancel()
		if err != nil {
			return nil, gcsErr(err, "list "+s.uri+prefix)
		}
		for _, a := range page {
			if info := s.info(a); !hidden(info.Name) {
				out = append(out, info)
			}
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

func hidden(name string) bool {
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

func (s *gcsStore) Create(ctx context.Context, name string, opts CreateOptions) (Writer, error) {
	if _, err := s.object(name); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.o.TempDir, stagingPrefix+"gcs-*-"+filepath.Base(name))
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w (set Options.TempDir to a writable directory)", name, err)
	}
	return &gcsWriter{s: s, name: name, f: f, opts: opts}, nil
}

type gcsWriter struct {
	s    *gcsStore
	name string
	f    *os.File
	opts CreateOptions
	done bool
}

func (w *gcsWriter) Write(b []byte) (int, error) { return w.f.Write(b) }
func (w *gcsWriter) StagedPath() string          { return w.f.Name() }

func (w *gcsWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

// Commit uploads the staged file as one object. Each attempt re-sends the whole file with its
// CRC32C (the server rejects a corrupted upload) under the attempt's deadline; GCS makes an
// object visible only when its upload completes, so a cut attempt leaves nothing behind.
func (w *gcsWriter) Commit(ctx context.Context) error {
	if w.done {
		return errors.New("storage: commit after commit or abort")
	}
	size, err := w.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(crc, io.NewSectionReader(w.f, 0, size)); err != nil {
		return err
	}
	sum := crc.Sum32()
	obj, _ := w.s.object(w.name)
	what := "upload " + w.s.uri + w.name
	var last error
	for attempt := 1; attempt <= w.s.o.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := sleepCtx(ctx, w.s.o.backoff(attempt-1)); err != nil {
				return fmt.Errorf("%s: %w (last error: %v)", what, err, last)
			}
		}
		err := w.uploadOnce(ctx, obj, size, sum)
		if err == nil {
			w.done = true
			w.f.Close()
			os.Remove(w.f.Name())
			return nil
		}
		if isPrecondition(err) {
			// An earlier attempt may have landed although its response was lost.
			info, serr := w.s.Stat(ctx, w.name)
			if serr == nil && info.Size == size && info.CRC32C == sum {
				w.done = true
				w.f.Close()
				os.Remove(w.f.Name())
				return nil
			}
			return fmt.Errorf("%s: %w with different content", what, ErrExists)
		}
		last = err
		if ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return fmt.Errorf("%s: %w", what, last)
}

func (w *gcsWriter) uploadOnce(ctx context.Context, obj *gcs.ObjectHandle, size int64, sum uint32) error {
	ctx, cancel := context.WithTimeout(ctx, w.s.o.UploadTimeout)
	defer cancel()
	if w.opts.IfNotExists {
		obj = obj.If(gcs.Conditions{DoesNotExist: true})
	}
	gw := obj.NewWriter(ctx)
	gw.ChunkSize = w.s.o.ChunkSize
	gw.ChunkRetryDeadline = w.s.o.OpTimeout
	gw.CRC32C = sum
	gw.SendCRC32C = true
	gw.Metadata = w.opts.Metadata
	gw.ContentType = w.opts.ContentType
	if gw.ContentType == "" {
		gw.ContentType = "application/octet-stream"
	}
	if _, err := io.Copy(gw, io.NewSectionReader(w.f, 0, size)); err != nil {
		cancel() // abandons the upload: the object never becomes visible
		gw.Close()
		return err
	}
	return gw.Close()
}

func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}
