package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// stagingPrefix starts the names of staging files; List skips them.
const stagingPrefix = ".tmp-"

type localStore struct {
	root string
}

func openLocal(root string) (*localStore, error) {
	if root == "" {
		return nil, fmt.Errorf("%w: empty local path", ErrInvalidURI)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidURI, root, err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a file, want a directory", ErrInvalidURI, abs)
	}
	return &localStore{root: abs}, nil
}

func (s *localStore) URI() string  { return s.root }
func (s *localStore) Close() error { return nil }

func (s *localStore) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(name)), nil
}

func (s *localStore) LocalPath(name string) (string, bool) {
	p, err := s.path(name)
	return p, err == nil
}

func notExist(err error, what string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", what, ErrNotExist)
	}
	return err
}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

func (s *localStore) Open(ctx context.Context, name string) (Reader, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(err, p)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return localFile{f, fi.Size()}, nil
}

func (s *localStore) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	p, err := s.path(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, notExist(err, p)
	}
	if fi.IsDir() {
		return ObjectInfo{}, fmt.Errorf("%s is a directory: %w", p, ErrNotExist)
	}
	return ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (s *localStore) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.Stat(ctx, name)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *localStore) Delete(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *localStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == s.root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if p != s.root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return ctx.Err()
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, prefix) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return notExist(err, p)
		}
		out = append(out, ObjectInfo{Name: rel, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.root, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *localStore) Create(ctx context.Context, name string, opts CreateOptions) (Writer, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(p), stagingPrefix+filepath.Base(p)+"-"+randomSuffix())
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &localWriter{f: f, tmp: tmp, final: p, opts: opts}, nil
}

type localWriter struct {
	f          *os.File
	tmp, final string
	opts       CreateOptions
	done       bool
}

func (w *localWriter) Write(b []byte) (int, error) { return w.f.Write(b) }
func (w *localWriter) StagedPath() string          { return w.tmp }

func (w *localWriter) Commit(ctx context.Context) error {
	if w.done {
		return errors.New("storage: commit after commit or abort")
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	if err := publishLocal(w.tmp, w.final, w.opts.IfNotExists); err != nil {
		return err
	}
	w.done = true
	return nil
}

// publishLocal moves the finished file tmp to final: a hard link when final must not exist
// (link fails atomically if it does), else a rename; then it syncs the directory.
func publishLocal(tmp, final string, ifNotExists bool) error {
	if ifNotExists {
		err := os.Link(tmp, final)
		switch {
		case err == nil:
			os.Remove(tmp)
		case errors.Is(err, fs.ErrExist):
			same, serr := sameContent(tmp, final)
			if serr != nil {
				return serr
			}
			os.Remove(tmp)
			if !same {
				return fmt.Errorf("publish %s: %w with different content", final, ErrExists)
			}
		case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EXDEV):
			// No hard links here (some network filesystems): check, then rename.
			if _, serr := os.Stat(final); serr == nil {
				os.Remove(tmp)
				return fmt.Errorf("publish %s: %w", final, ErrExists)
			}
			if err := os.Rename(tmp, final); err != nil {
				return err
			}
		default:
			return err
		}
	} else if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// sameContent reports whether two files hold the same bytes.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || string(ba[:na]) != string(bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
