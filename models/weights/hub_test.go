package weights

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeHub serves a model listing and files the way huggingface.co does: the listing at
// /api/models/<repo>/revision/<rev>?blobs=true, files at /<repo>/resolve/<commit>/<file>.
type fakeHub struct {
	repo, commit string
	files        map[string][]byte // served content
	published    map[string][]byte // content whose checksum the listing publishes (default: served)
	downloads    atomic.Int32
	down         bool
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	switch {
	case r.URL.Path == "/api/models/"+h.repo+"/revision/main" && r.URL.Query().Get("blobs") == "true":
		type lfs struct {
			SHA256 string `json:"sha256"`
			Size   int    `json:"size"`
		}
		type sib struct {
			Name   string `json:"rfilename"`
			Size   int    `json:"size"`
			BlobID string `json:"blobId"`
			LFS    *lfs   `json:"lfs,omitempty"`
		}
		var sibs []sib
		for name, data := range h.files {
			if p, ok := h.published[name]; ok {
				data = p
			}
			s := sib{Name: name, Size: len(data)}
			if strings.HasSuffix(name, ".safetensors") {
				sum := sha256.Sum256(data)
				s.LFS = &lfs{SHA256: hex.EncodeToString(sum[:]), Size: len(data)}
				s.BlobID = "0123456789012345678901234567890123456789" // pointer blob, not the content
			} else {
				sum := sha1.Sum(append([]byte(fmt.Sprintf("blob %d\x00", len(data))), data...))
				s.BlobID = hex.EncodeToString(sum[:])
			}
			sibs = append(sibs, s)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"sha": h.commit, "siblings": sibs})
	case strings.HasPrefix(r.URL.Path, "/"+h.repo+"/resolve/"+h.commit+"/"):
		name := strings.TrimPrefix(r.URL.Path, "/"+h.repo+"/resolve/"+h.commit+"/")
		data, ok := h.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.downloads.Add(1)
		_, _ = w.Write(data)
	default:
		http.NotFound(w, r)
	}
}

func newFakeHub() *fakeHub {
	return &fakeHub{
		repo:   "openai/clip-vit-base-patch16",
		commit: "57c216476eefef5ab752ec549e440a49ae4ae5f3",
		files: map[string][]byte{
			"config.json":       []byte(`{"model_type":"clip"}`),
			"model.safetensors": encodeBytes(F32Tensor("x", []int{2}, []float32{1, 2})),
		},
		published: map[string][]byte{},
	}
}

func encodeBytes(ts ...Tensor) []byte {
	var buf bytes.Buffer
	_ = Encode(&buf, ts, nil)
	return buf.Bytes()
}

func TestHubFetchVerifyAndCache(t *testing.T) {
	fh := newFakeHub()
	srv := httptest.NewServer(fh)
	defer srv.Close()
	h := &Hub{Endpoint: srv.URL, CacheDir: t.TempDir()}
	ctx := context.Background()
	dir, err := h.Fetch(ctx, fh.repo, "config.json", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range fh.files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: cached content %q, err %v", name, got, err)
		}
	}
	if !strings.Contains(dir, fh.commit) {
		t.Errorf("cache dir %s does not name the commit", dir)
	}
	// Second fetch: served from the cache, no downloads.
	if _, err := h.Fetch(ctx, fh.repo, "config.json", "model.safetensors"); err != nil {
		t.Fatal(err)
	}
	if n := fh.downloads.Load(); n != 2 {
		t.Errorf("%d downloads after a cached fetch, want 2", n)
	}
	// Offline: the hub is down, the verified cached copy is used.
	fh.down = true
	if d, err := h.Fetch(ctx, fh.repo, "config.json", "model.safetensors"); err != nil || d != dir {
		t.Errorf("offline fetch: %q, %v", d, err)
	}
	if _, err := h.Fetch(ctx, fh.repo, "other.json"); err == nil {
		t.Error("offline fetch of a file never fetched: no error")
	}
}

func TestHubRejectsCorruptDownloads(t *testing.T) {
	for _, name := range []string{"model.safetensors", "config.json"} {
		fh := newFakeHub()
		fh.published[name] = append([]byte("x"), fh.files[name][1:]...) // same size, other bytes
		srv := httptest.NewServer(fh)
		h := &Hub{Endpoint: srv.URL, CacheDir: t.TempDir()}
		_, err := h.Fetch(context.Background(), fh.repo, name)
		srv.Close()
		if !errors.Is(err, ErrChecksum) {
			t.Errorf("%s with a wrong checksum: error %v, want ErrChecksum", name, err)
			continue
		}
		// Nothing usable was left behind.
		matches, _ := filepath.Glob(filepath.Join(h.CacheDir, fh.repo, fh.commit, "*"))
		matches2, _ := filepath.Glob(filepath.Join(h.CacheDir, fh.repo, fh.commit, ".*"))
		if len(matches)+len(matches2) != 0 {
			t.Errorf("%s: files left in the cache after a failed verification: %v %v", name, matches, matches2)
		}
	}
	// Wrong size.
	fh := newFakeHub()
	fh.published["model.safetensors"] = append(fh.files["model.safetensors"], 0)
	srv := httptest.NewServer(fh)
	defer srv.Close()
	h := &Hub{Endpoint: srv.URL, CacheDir: t.TempDir()}
	if _, err := h.Fetch(context.Background(), fh.repo, "model.safetensors"); !errors.Is(err, ErrChecksum) {
		t.Errorf("short download: %v", err)
	}
}

func TestHubBadRequests(t *testing.T) {
	fh := newFakeHub()
	srv := httptest.NewServer(fh)
	defer srv.Close()
	h := &Hub{Endpoint: srv.URL, CacheDir: t.TempDir()}
	ctx := context.Background()
	for _, c := range []struct {
		repo, file, want string
	}{
		{"noslash", "config.json", "owner/name"},
		{"../etc/passwd", "config.json", "owner/name"},
		{fh.repo, "../x", "bad file name"},
		{fh.repo, "pytorch_model.bin", "has no file pytorch_model.bin"},
		{"openai/other", "config.json", "HTTP 404"},
	} {
		_, err := h.Fetch(ctx, c.repo, c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Fetch(%q, %q): %v, want an error containing %q", c.repo, c.file, err, c.want)
		}
	}
}
