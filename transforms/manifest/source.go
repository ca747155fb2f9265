package manifest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/storage"
)

// Timeout bounds fetching a remote manifest (headers and body).
var Timeout = 10 * time.Minute

// OpenSource opens a manifest from a local path, gs://bucket/object (Application Default
// Credentials, or STORAGE_EMULATOR_HOST for an emulator) or an http(s) URL.
func OpenSource(ctx context.Context, uri string) (io.ReadCloser, error) {
	lower := strings.ToLower(uri)
	switch {
	case strings.HasPrefix(lower, "gs://"):
		return openGCS(ctx, uri)
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return openHTTP(ctx, uri)
	case strings.HasPrefix(lower, "file://"):
		return openLocal(uri[len("file://"):])
	}
	return openLocal(uri)
}

// cancelCloser releases a context when the body is closed.
type cancelCloser struct {
	io.ReadCloser
	cancel func()
}

func (c cancelCloser) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

func openHTTP(ctx context.Context, uri string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fetching: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("fetching: HTTP %s; check the URL and that it is public", resp.Status)
	}
	return cancelCloser{resp.Body, cancel}, nil
}

func openGCS(ctx context.Context, uri string) (io.ReadCloser, error) {
	rest := uri[len("gs://"):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return nil, fmt.Errorf("%q is not gs://bucket/object", uri)
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	client, err := storage.NewClient(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("GCS client: %v; run 'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS", err)
	}
	r, err := client.Bucket(rest[:i]).Object(rest[i+1:]).NewReader(ctx)
	if err != nil {
		client.Close()
		cancel()
		return nil, fmt.Errorf("opening: %v", err)
	}
	return cancelCloser{r, func() { client.Close(); cancel() }}, nil
}
