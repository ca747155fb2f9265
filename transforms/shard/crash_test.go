package shard

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const crashEnv = "UMT_SHARD_CRASH_DIR"

// crashJob is the job the crash test kills: two writers and the index, like one prep run.
func crashJob(t testing.TB, dir string) {
	ctx := context.Background()
	store := openStore(t, dir)
	p := small("visible:2")
	writeAll(t, store, p, rowsFor(p, 21, 12), []string{"w0", "w1"}, WriterOptions{BatchRows: 2, TargetBytes: 1})
	if _, err := CommitIndex(ctx, dir, IndexOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestCrashHelper is the child process of TestCrashBetweenWriteAndPublish: it runs the job and
// exits hard (no deferred cleanup, like a killed worker) just before the third publish.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrashBetweenWriteAndPublish")
	}
	publishes := 0
	testHookBeforePublish = func(name string) {
		if publishes++; publishes == 3 {
			os.Exit(3)
		}
	}
	crashJob(t, dir)
}

func TestCrashBetweenWriteAndPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child did not crash at the hook: %v\n%s", err, out)
	}
	// The crashed run left its verified-but-unpublished shard only as a hidden staging file.
	var staged, visible int
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), ".tmp-"):
			staged++
		case isShard(e.Name()):
			visible++
		}
	}
	if staged != 1 || visible != 2 {
		t.Fatalf("after crash: %d staging files, %d visible shards; want 1 and 2", staged, visible)
	}
	if _, err := Open(ctx, dir); !errors.Is(err, ErrNoIndex) {
		t.Fatalf("Open after crash = %v, want ErrNoIndex (no reader sees a partial dataset)", err)
	}
	// Readers of the shards that were published see complete, valid shards.
	store := openStore(t, dir)
	objs, _ := store.List(ctx, "")
	for _, ob := range objs {
		if isShard(ob.Name) {
			if _, err := readShardFully(ctx, store, ob); err != nil {
				t.Fatalf("published shard %s unreadable after crash: %v", ob.Name, err)
			}
		}
	}

	// The rerun completes the dataset exactly as an uninterrupted run does.
	crashJob(t, dir)
	clean := t.TempDir()
	crashJob(t, clean)
	a, _ := os.ReadFile(filepath.Join(dir, IndexName))
	b, _ := os.ReadFile(filepath.Join(clean, IndexName))
	if !bytes.Equal(a, b) {
		t.Fatalf("index after crash+rerun differs from a clean run:\n%s\n%s", a, b)
	}
	for _, ob := range objs {
		x, _ := os.ReadFile(filepath.Join(dir, ob.Name))
		y, _ := os.ReadFile(filepath.Join(clean, ob.Name))
		if !bytes.Equal(x, y) {
			t.Fatalf("%s differs from a clean run", ob.Name)
		}
	}
	ds, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := ds.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
