package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RemoveStaging deletes the staging files (".tmp-…") that writers which crashed before
// Commit left under a local store's root, when they are older than olderThan (pick a time no
// running writer could take, e.g. a day). It returns how many it removed. On gs:// there is
// nothing to remove: staging happens in the writer's local temp dir, and GCS never shows an
// unfinished upload.
func RemoveStaging(s Store, olderThan time.Duration) (int, error) {
	ls, ok := s.(*localStore)
	if !ok {
		return 0, nil
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	err := filepath.WalkDir(ls.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == ls.root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), stagingPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}
