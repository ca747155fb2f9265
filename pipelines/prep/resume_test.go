package prep

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/runners"
	"github.com/umt-dev/umt/runners/runnertest"
	"github.com/umt-dev/umt/transforms/shard"
	"github.com/umt-dev/umt/transforms/storage"
)

// smallSet is a quick manifest for the rerun, portable and crash tests: good and bad files.
func smallSet(t *testing.T, good int) (manifestPath, root string) {
	root, all := corpus(t)
	var pick []truth
	n := 0
	for _, e := range all {
		switch {
		case e.Expect == "ok" && n < good && e.SizeBytes < 400_000:
			pick = append(pick, e)
			n++
		case e.Path == "bad/empty.mp4" || e.Path == "bad/truncated_05pct_moovend.mp4" || e.Path == "bad/does_not_exist.mp4":
			pick = append(pick, e)
		}
	}
	return writeManifest(t, pick), root
}

// indexOf returns the committed index bytes of a dataset and verifies every shard against it.
func indexOf(t *testing.T, uri string) string {
	t.Helper()
	ctx := context.Background()
	st, err := storage.OpenStore(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.Open(ctx, shard.IndexName)
	if err != nil {
		t.Fatalf("%s has no index: %v", uri, err)
	}
	b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	ds, err := shard.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if err := ds.Verify(ctx); err != nil {
		t.Fatalf("verify %s: %v", uri, err)
	}
	if staged, _ := st.List(ctx, "_staging/"); len(staged) != 0 {
		t.Errorf("%s: %d staged rows left after the commit", uri, len(staged))
	}
	return string(b)
}

func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := prepareRun(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestRerunAndPortable: a rerun over a committed dataset recomputes nothing and rewrites the
// same index; the same job submitted to a standalone Prism job server (the portable path a
// Flink job server takes, LOOPBACK workers) produces the same dataset byte for byte.
func TestRerunAndPortable(t *testing.T) {
	m, root := smallSet(t, 4)
	a := filepath.Join(t.TempDir(), "a")
	cfg := tinyConfig(t, m, root, a)
	first := mustRun(t, cfg)
	want := indexOf(t, a)

	again := mustRun(t, cfg)
	if got := indexOf(t, a); got != want {
		t.Errorf("rerun changed the index:\n%s\nvs\n%s", got, want)
	}
	if again.Committed != first.OK || again.Computed != 0 || again.OK != first.OK || again.Failed != first.Failed {
		t.Errorf("rerun: committed %d computed %d ok %d failed %d; first run ok %d failed %d",
			again.Committed, again.Computed, again.OK, again.Failed, first.OK, first.Failed)
	}

	if testing.Short() {
		t.Skip("portable path builds and starts a Prism job server")
	}
	endpoint := runnertest.StartPrism(t)
	restore, err := runners.SetFlags(map[string]string{"runner": "universal", "endpoint": endpoint, "environment_type": "LOOPBACK"})
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	b := filepath.Join(t.TempDir(), "b")
	cfg.Output = b
	rep := mustRun(t, cfg)
	if rep.Runner != runners.Universal {
		t.Errorf("ran on %q", rep.Runner)
	}
	if got := indexOf(t, b); got != want {
		t.Errorf("portable run wrote a different dataset:\n%s\nvs\n%s", got, want)
	}
}

// childEnv carries a Config to TestPrepChild in a subprocess.
const childEnv = "UMT_PREP_CHILD_CONFIG"

// TestPrepChild is the subprocess of the kill tests; it does nothing in a normal run.
func TestPrepChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("helper process for the kill tests")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareRun(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

// killMidRun starts the job in a subprocess and SIGKILLs it once some clip rows are staged.
func killMidRun(t *testing.T, cfg Config, staged func() int) {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	testenv.KillWhen(t, "TestPrepChild", childEnv+"="+string(raw), func() bool { return staged() > 0 })
}

// stagedFiles counts the rows staged under a local dataset directory.
func stagedFiles(dataset string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dataset, "_staging"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".arrow") {
			n++
		}
		return nil
	})
	return n
}

// TestKillAndResume: SIGKILL mid-run, rerun, and the dataset equals an uninterrupted run's.
func TestKillAndResume(t *testing.T) {
	m, root := smallSet(t, 6)
	clean := filepath.Join(t.TempDir(), "clean")
	cfg := tinyConfig(t, m, root, clean)
	cfg.GroupClips = 2
	mustRun(t, cfg)
	want := indexOf(t, clean)

	killed := filepath.Join(t.TempDir(), "killed")
	cfg.Output = killed
	killMidRun(t, cfg, func() int { return stagedFiles(killed) })
	if _, err := os.Stat(filepath.Join(killed, shard.IndexName)); err == nil {
		t.Log("the killed run had already committed its index")
	}
	rep := mustRun(t, cfg)
	if got := indexOf(t, killed); got != want {
		t.Errorf("resumed dataset differs from the clean run:\n%s\nvs\n%s", got, want)
	}
	t.Logf("resume: computed %d, reused %d staged, %d committed", rep.Computed, rep.Restaged, rep.Committed)
	// Nothing half-written is visible: only committed names at the root.
	entries, _ := os.ReadDir(killed)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover staging file %s", e.Name())
		}
	}
}

// TestGCSOutput writes the dataset to fake-gcs-server through the production client, kills a
// run mid-way, resumes it, and compares with the same job on local disk.
func TestGCSOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a GCS emulator")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http", Host: "127.0.0.1", Port: uint16(port), PublicHost: fmt.Sprintf("127.0.0.1:%d", port),
		InitialObjects: []fakestorage.Object{{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "umt", Name: "keep"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", fmt.Sprintf("127.0.0.1:%d", port))

	m, root := smallSet(t, 4)
	local := filepath.Join(t.TempDir(), "local")
	cfg := tinyConfig(t, m, root, local)
	cfg.GroupClips = 2
	mustRun(t, cfg)
	want := indexOf(t, local)

	cfg.Output = "gs://umt/ds"
	killMidRun(t, cfg, func() int {
		objs, _, err := srv.ListObjectsWithOptions("umt", fakestorage.ListOptions{Prefix: "ds/_staging/"})
		if err != nil {
			return 0
		}
		return len(objs)
	})
	mustRun(t, cfg)
	if got := indexOf(t, cfg.Output); got != want {
		t.Errorf("GCS dataset differs from the local one:\n%s\nvs\n%s", got, want)
	}

	// Two phases through the bucket: frames to gs://, the teacher phase reading them from gs://.
	frames := cfg
	frames.Phase, frames.Teacher, frames.Output = PhaseFrames, "", "gs://umt/frames"
	mustRun(t, frames)
	teach := tinyConfig(t, frames.Output, "", "gs://umt/two")
	teach.Phase, teach.GroupClips = PhaseTeacher, 2
	mustRun(t, teach)
	_, rows1, fails1 := datasetContents(t, local)
	_, rows2, fails2 := datasetContents(t, teach.Output)
	if !reflect.DeepEqual(rows1, rows2) || !reflect.DeepEqual(fails1, fails2) {
		t.Errorf("two phases on GCS: %d rows, %d failures differ from the local one-pass %d rows, %d failures", len(rows2), len(fails2), len(rows1), len(fails1))
	}
}

// prepareRun prepares cfg and runs its plan, as the CLI does.
func prepareRun(ctx context.Context, cfg Config) (*Report, error) {
	plan, err := Prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return Run(ctx, plan)
}
