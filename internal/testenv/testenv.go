// Package testenv locates the fixtures tests read: the repository root, the UMT reference
// tensors (UMT_REFDATA, default testdata/refdata/umt) and the video corpus (UMT_VIDEOS, default
// testdata/videos). Tests never read ../shared; the env variables point them at another set
// with the same layout.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, walking up from the working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("testenv: no go.mod above the working directory; run tests inside the repository")
		}
		dir = parent
	}
}

// RefData returns the reference-tensor directory: $UMT_REFDATA, else testdata/refdata/umt.
// It fails the test if the directory has no manifest.json.
func RefData(tb testing.TB) string {
	tb.Helper()
	return dirWith(tb, "UMT_REFDATA", filepath.Join("testdata", "refdata", "umt"), "manifest.json")
}

// Videos returns the video corpus directory: $UMT_VIDEOS, else testdata/videos.
// It fails the test if the directory has no manifest.jsonl.
func Videos(tb testing.TB) string {
	tb.Helper()
	return dirWith(tb, "UMT_VIDEOS", filepath.Join("testdata", "videos"), "manifest.jsonl")
}

// Testdata returns the path of a file or folder under the repository's testdata/.
func Testdata(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{RepoRoot(tb), "testdata"}, elem...)...)
}

func dirWith(tb testing.TB, env, def, must string) string {
	tb.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join(RepoRoot(tb), def)
	}
	if _, err := os.Stat(filepath.Join(dir, must)); err != nil {
		tb.Fatalf("testenv: %s has no %s (set %s to a directory with that layout, or run scripts/refresh-testdata.sh): %v", dir, must, env, err)
	}
	return dir
}
