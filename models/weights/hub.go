package weights

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Hub fetches files of a Hugging Face model repository into a local cache, verifying each one
// against the checksum the hub publishes: the LFS sha256 for large files (model.safetensors), the
// git blob sha1 for small ones (config.json). The zero Hub uses the defaults below.
type Hub struct {
	// Endpoint is the hub's base URL; default $HF_ENDPOINT, else https://huggingface.co.
	Endpoint string
	// CacheDir holds fetched files as <CacheDir>/<owner>/<name>/<commit>/<file>; default
	// $UMT_CACHE/hf, else <user cache dir>/umt/hf.
	CacheDir string
	// Revision is the branch, tag or commit; default "main".
	Revision string
	// Client is the HTTP client; default http.DefaultClient.
	Client *http.Client
}

var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ErrChecksum is wrapped by errors from a download whose content does not match the hub's
// published checksum.
var ErrChecksum = errors.New("checksum mismatch")

func (h *Hub) endpoint() string {
	if h.Endpoint != "" {
		return strings.TrimRight(h.Endpoint, "/")
	}
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		return strings.TrimRight(e, "/")
	}
	return "https://huggingface.co"
}

func (h *Hub) cacheDir() (string, error) {
	if h.CacheDir != "" {
		return h.CacheDir, nil
	}
	if c := os.Getenv("UMT_CACHE"); c != "" {
		return filepath.Join(c, "hf"), nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for hub downloads (set UMT_CACHE): %w", err)
	}
	return filepath.Join(c, "umt", "hf"), nil
}

func (h *Hub) revision() string {
	if h.Revision != "" {
		return h.Revision
	}
	return "main"
}

func (h *Hub) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return http.DefaultClient
}

// sibling is one file of the hub's repository listing.
type sibling struct {
	Name   string `json:"rfilename"`
	Size   int64  `json:"size"`
	BlobID string `json:"blobId"`
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

type repoInfo struct {
	SHA      string    `json:"sha"`
	Siblings []sibling `json:"siblings"`
}

// Fetch makes sure files of repo ("owner/name") are in the cache and returns the directory
// holding them. Files already cached and verified are not downloaded again. When the hub cannot
// be reached, a previously fetched copy of the same revision is used.
func (h *Hub) Fetch(ctx context.Context, repo string, files ...string) (string, error) {
	if !repoName.MatchString(repo) || strings.Contains(repo, "..") {
		return "", fmt.Errorf("hub: %q is not a model name of the form owner/name", repo)
	}
	for _, f := range files {
		if f == "" || strings.Contains(f, "..") || strings.HasPrefix(f, "/") || strings.Contains(f, "\\") {
			return "", fmt.Errorf("hub: bad file name %q", f)
		}
	}
	cache, err := h.cacheDir()
	if err != nil {
		return "", err
	}
	repoDir := filepath.Join(cache, filepath.FromSlash(repo))
	refFile := filepath.Join(repoDir, "refs", h.revision())
	info, err := h.info(ctx, repo)
	if err != nil {
		// Offline: fall back to the revision fetched last time, if all files were verified.
		if sha, rerr := os.ReadFile(refFile); rerr == nil {
			dir := filepath.Join(repoDir, strings.TrimSpace(string(sha)))
			if allVerified(dir, files) {
				return dir, nil
			}
		}
		return "", err
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(info.SHA) {
		return "", fmt.Errorf("hub: %s: listing has no commit sha (got %q)", repo, info.SHA)
	}
	dir := filepath.Join(repoDir, info.SHA)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		var sib *sibling
		for i := range info.Siblings {
			if info.Siblings[i].Name == f {
				sib = &info.Siblings[i]
			}
		}
		if sib == nil {
			return "", fmt.Errorf("hub: %s has no file %s at revision %s", repo, f, h.revision())
		}
		if err := h.fetchFile(ctx, repo, info.SHA, dir, sib); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Dir(refFile), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(refFile, []byte(info.SHA+"\n"), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

func (h *Hub) info(ctx context.Context, repo string) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", h.endpoint(), repo, url.PathEscape(h.revision()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("hub: cannot reach %s (offline? set HF_ENDPOINT or fetch on a machine with access and copy the cache): %w", h.endpoint(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("hub: listing %s at %s: HTTP %s", repo, h.revision(), resp.Status)
	}
	var info repoInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("hub: listing %s: bad JSON: %w", repo, err)
	}
	return &info, nil
}

// expected returns the checksum kind and value the hub publishes for a file.
func expected(s *sibling) (kind, sum string, size int64) {
	if s.LFS != nil && s.LFS.SHA256 != "" {
		return "sha256", strings.ToLower(s.LFS.SHA256), s.LFS.Size
	}
	return "git-sha1", strings.ToLower(s.BlobID), s.Size
}

// okMarker is the file recording that path was verified, and against which checksum.
func okMarker(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".verified")
}

// allVerified reports whether every file in dir has a verification marker.
func allVerified(dir string, files []string) bool {
	for _, f := range files {
		m, err := os.ReadFile(okMarker(filepath.Join(dir, filepath.FromSlash(f))))
		if err != nil || len(m) == 0 {
			return false
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
			return false
		}
	}
	return true
}

func (h *Hub) fetchFile(ctx context.Context, repo, commit, dir string, s *sibling) error {
	kind, want, size := expected(s)
	if want == "" {
		return fmt.Errorf("hub: %s/%s: the listing gives no checksum; refusing an unverifiable download", repo, s.Name)
	}
	dst := filepath.Join(dir, filepath.FromSlash(s.Name))
	marker := okMarker(dst)
	if m, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(m)) == kind+":"+want {
		if st, err := os.Stat(dst); err == nil && (size <= 0 || st.Size() == size) {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", h.endpoint(), repo, commit, s.Name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := h.client().Do(req)
	if err != nil {
		return fmt.Errorf("hub: downloading %s/%s: %w", repo, s.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("hub: downloading %s/%s: HTTP %s", repo, s.Name, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hub: downloading %s/%s: %w", repo, s.Name, err)
	}
	if size > 0 && n != size {
		return fmt.Errorf("hub: %s/%s: got %d bytes, the listing says %d: %w", repo, s.Name, n, size, ErrChecksum)
	}
	got, err := fileSum(tmp.Name(), kind, n)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("hub: %s/%s: %s %s, the hub publishes %s (corrupt or tampered download; nothing was cached): %w", repo, s.Name, kind, got, want, ErrChecksum)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(kind+":"+want+"\n"), 0o644)
}

// fileSum hashes a file: sha256 of the bytes, or git's blob sha1 ("blob <n>\0" + bytes).
func fileSum(path, kind string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var hh hash.Hash
	if kind == "sha256" {
		hh = sha256.New()
	} else {
		hh = sha1.New()
		io.WriteString(hh, "blob "+strconv.FormatInt(n, 10)+"\x00")
	}
	if _, err := io.Copy(hh, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(hh.Sum(nil)), nil
}
