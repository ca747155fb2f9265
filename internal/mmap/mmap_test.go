package mmap

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestFileReturnsTheBytesOnDisk maps files of several sizes (empty, one byte, across a page
// boundary) and checks the mapping holds exactly the file's bytes and releases cleanly.
func TestFileReturnsTheBytesOnDisk(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 4095, 4096, 4097, 1 << 20} {
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i*31 + n)
		}
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, release, err := File(p)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes: mapping differs from the file", n)
		}
		if err := release(); err != nil {
			t.Errorf("%d bytes: release: %v", n, err)
		}
	}
}

func TestFileMissingIsNotExist(t *testing.T) {
	_, _, err := File(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("File(absent) error = %v, want fs.ErrNotExist", err)
	}
}
