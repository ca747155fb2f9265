package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/umt-dev/umt/internal/testenv"
	"github.com/umt-dev/umt/runners/runnertest"
)

// workerBinaryEnv names a prebuilt umt binary for TestPrepOnOutOfProcessWorkers (for instance
// bin/umt-worker from `make worker`); without it the test builds one.
const workerBinaryEnv = "UMT_WORKER_BINARY"

// TestPrepOnOutOfProcessWorkers runs `umt prep` on the bundled sample the way remote runners
// run it: the launcher submits the job to a standalone Prism job server with the PROCESS
// environment, Prism starts the umt binary as the Beam worker (--worker, through the wrapper
// of runnertest.ProcessWorker), and the dataset must equal an in-process run of the same
// command byte for byte. Every subprocess runs in its own process group under a deadline and
// is killed with its children; logs of the launcher, the worker and Prism go to the test log
// on failure. Then `umt export` of that dataset runs the same two ways and must agree too.
func TestPrepOnOutOfProcessWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the umt binary and runs prep twice, once on a Prism job server's PROCESS workers (~10-30 s, most of it go build)")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("the PROCESS environment's wrapper is a shell script and there is no sh on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t, 5*time.Minute))
	defer cancel()

	bin := umtBinary(ctx, t)
	work := t.TempDir()
	tmp := t.TempDir() // TMPDIR of the launchers: whatever they leave there goes with the test
	workerLog := filepath.Join(work, "worker.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(workerLog)
			t.Logf("worker log (%s):\n%s", workerLog, b)
		}
	})
	endpoint := runnertest.StartPrism(t)
	envConfig := runnertest.ProcessWorker(t, bin, workerLog)

	sample := testenv.Testdata(t, "sample", "manifest.jsonl")
	teacher := filepath.Join(testenv.RefData(t), "teacher_tiny_openai.safetensors")
	// The flags of `make demo` (scripts/demo.sh). The default --device=auto makes the teacher
	// DoFn log the backend it picked ("prep: teacher backend"), the worker's mark of DoFn work.
	prepArgs := func(out string, extra ...string) []string {
		return append([]string{"prep", "--input", sample, "--output", out, "--teacher", teacher,
			"--teacher-resolution", "64", "--size", "64", "--frames", "4", "--layout", "visible:2",
			"--progress", "off", "--json"}, extra...)
	}

	inProcess := filepath.Join(work, "in-process")
	start := time.Now()
	want := runPrepCmd(ctx, t, bin, tmp, prepArgs(inProcess))
	t.Logf("in-process run: %v", time.Since(start).Round(time.Millisecond))

	outOfProcess := filepath.Join(work, "process-workers")
	start = time.Now()
	got := runPrepCmd(ctx, t, bin, tmp, prepArgs(outOfProcess, "--runner=universal", "--endpoint="+endpoint,
		"--environment_type=PROCESS", "--environment_config="+envConfig, "--worker_binary="+bin))
	t.Logf("PROCESS-worker run: %v", time.Since(start).Round(time.Millisecond))

	if want.Runner != "prism" || got.Runner != "universal" {
		t.Errorf("runners: in-process run on %q, PROCESS-worker run on %q", want.Runner, got.Runner)
	}
	if !got.Accounted || got.OK == 0 || got.Rows != want.Rows || got.OK != want.OK || got.Failed != want.Failed || got.Computed != want.Computed {
		t.Errorf("PROCESS-worker report: rows %d ok %d failed %d computed %d (accounted %v); in-process: rows %d ok %d failed %d computed %d",
			got.Rows, got.OK, got.Failed, got.Computed, got.Accounted, want.Rows, want.OK, want.Failed, want.Computed)
	}

	// The work ran in the worker process: the wrapper exec'd it, and prep's DoFns logged there.
	// Prism ends the worker with the job; a worker left running is what hung the dropped test.
	for _, pid := range checkWorkerLog(t, workerLog) {
		if !runnertest.Exited(pid, 15*time.Second) {
			t.Errorf("worker process %d still runs after the job ended", pid)
		}
	}

	// Same dataset: every file (index, shards, failures table) byte for byte, and the shards
	// match the index's checksums.
	wantFiles, gotFiles := datasetFiles(t, inProcess), datasetFiles(t, outOfProcess)
	if _, ok := gotFiles["index.json"]; !ok {
		t.Errorf("the PROCESS-worker run wrote no index.json; files: %v", gotFiles)
	}
	for name, sum := range wantFiles {
		if gotFiles[name] != sum {
			t.Errorf("%s: PROCESS-worker run sha256 %q, in-process %s", name, gotFiles[name], sum)
		}
	}
	for name := range gotFiles {
		if _, ok := wantFiles[name]; !ok {
			t.Errorf("%s: written only by the PROCESS-worker run", name)
		}
	}
	if b, err := os.ReadFile(filepath.Join(outOfProcess, "index.json")); err == nil && !bytes.Equal(b, mustRead(t, filepath.Join(inProcess, "index.json"))) {
		t.Errorf("index.json differs:\n%s\nvs in-process\n%s", b, mustRead(t, filepath.Join(inProcess, "index.json")))
	}
	verify := runnertest.Command(ctx, bin, "inspect", "shards", "--verify", outOfProcess)
	if out, err := combined(verify); err != nil {
		t.Errorf("umt inspect shards --verify: %v\n%s", err, out)
	}

	// umt export of that dataset on the same job server's PROCESS workers writes the same
	// export, byte for byte, as an in-process run.
	exportArgs := func(out string, extra ...string) []string {
		return append([]string{"export", "--input", inProcess, "--output", out, "--teacher", teacher,
			"--teacher-resolution", "64", "--heads", "4", "--group-clips", "2", "--json"}, extra...)
	}
	wantExport, gotExport := filepath.Join(work, "export-in-process"), filepath.Join(work, "export-process-workers")
	var wantRep, gotRep exportReport
	runUmtJSON(ctx, t, bin, tmp, exportArgs(wantExport), &wantRep)
	runUmtJSON(ctx, t, bin, tmp, exportArgs(gotExport, "--runner=universal", "--endpoint="+endpoint,
		"--environment_type=PROCESS", "--environment_config="+envConfig, "--worker_binary="+bin), &gotRep)
	if wantRep.Runner != "prism" || gotRep.Runner != "universal" {
		t.Errorf("export runners: in-process run on %q, PROCESS-worker run on %q", wantRep.Runner, gotRep.Runner)
	}
	if !gotRep.Accounted || gotRep.OK != want.OK || gotRep.OK != wantRep.OK || gotRep.Computed != gotRep.OK {
		t.Errorf("PROCESS-worker export report %+v, in-process %+v; want %d clips computed", gotRep, wantRep, want.OK)
	}
	wantFiles, gotFiles = exportFiles(t, wantExport), exportFiles(t, gotExport)
	if len(wantFiles) < 2 || len(gotFiles) != len(wantFiles) {
		t.Errorf("export files: PROCESS workers %v, in-process %v", gotFiles, wantFiles)
	}
	for name, sum := range wantFiles {
		if gotFiles[name] != sum {
			t.Errorf("export %s: PROCESS-worker run sha256 %q, in-process %s", name, gotFiles[name], sum)
		}
	}
}

// exportReport is the part of export's JSON run report the test reads.
type exportReport struct {
	Runner    string `json:"runner"`
	OK        int64  `json:"ok"`
	Accounted bool   `json:"ok_plus_failed_equals_rows"`
	Computed  int64  `json:"clips_computed"`
}

// exportFiles maps every file of a local export to its sha256.
func exportFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		sum := sha256.Sum256(mustRead(t, p))
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testBudget is the test's own deadline: d, or less so that it ends (and prints its logs)
// before `go test -timeout` would.
func testBudget(t *testing.T, d time.Duration) time.Duration {
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl) - 15*time.Second; left < d {
			return max(left, time.Second)
		}
	}
	return d
}

// umtBinary returns $UMT_WORKER_BINARY or builds this command into a temp directory.
func umtBinary(ctx context.Context, t *testing.T) string {
	t.Helper()
	if p := os.Getenv(workerBinaryEnv); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(testenv.RepoRoot(t), p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", workerBinaryEnv, os.Getenv(workerBinaryEnv), err)
		}
		return p
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to build the umt binary (or set %s to a built umt binary): %v", workerBinaryEnv, err)
	}
	bctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "umt")
	build := runnertest.Command(bctx, gobin, "build", "-o", bin, "github.com/umt-dev/umt/cmd/umt")
	build.Dir = testenv.RepoRoot(t)
	start := time.Now()
	if out, err := combined(build); err != nil {
		t.Fatalf("go build ./cmd/umt (%v): %v\n%s", time.Since(start).Round(time.Millisecond), err, out)
	}
	t.Logf("go build ./cmd/umt: %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// prepReport is the part of prep's JSON run report the test reads.
type prepReport struct {
	Runner    string `json:"runner"`
	Rows      int64  `json:"manifest_rows"`
	OK        int64  `json:"ok"`
	Failed    int64  `json:"failed"`
	Accounted bool   `json:"ok_plus_failed_equals_rows"`
	Computed  int64  `json:"clips_computed"`
}

// runPrepCmd runs `bin prep ...` with a deadline and returns its JSON report.
func runPrepCmd(ctx context.Context, t *testing.T, bin, tmp string, args []string) prepReport {
	t.Helper()
	var rep prepReport
	runUmtJSON(ctx, t, bin, tmp, args, &rep)
	return rep
}

// runUmtJSON runs `bin args...` with a deadline and decodes its JSON report into rep.
func runUmtJSON(ctx context.Context, t *testing.T, bin, tmp string, args []string, rep any) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := runnertest.Command(rctx, bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := runnertest.Run(cmd)
	if rctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w (%v); a job that never finishes usually means no worker connected: see the worker and Prism logs", time.Since(start).Round(time.Millisecond), rctx.Err(), err)
	}
	if err != nil {
		t.Fatalf("umt %s: %v\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, stderr.Bytes(), stdout.Bytes())
	}
	if err := json.Unmarshal(stdout.Bytes(), rep); err != nil {
		t.Fatalf("umt %s: report: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
}

func combined(cmd *exec.Cmd) ([]byte, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := runnertest.Run(cmd)
	return out.Bytes(), err
}

var execLine = regexp.MustCompile(`(?m)^worker\.sh: exec (\d+) `)

// checkWorkerLog checks that Prism started the worker through the wrapper and that prep's
// DoFns logged in it: slog JSON records whose message starts "prep:", such as the line the
// teacher DoFn's setup logs for --device=auto; it returns the workers' pids.
func checkWorkerLog(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("Prism never started the worker wrapper: %v", err)
		return nil
	}
	var pids []int
	for _, m := range execLine.FindAllSubmatch(b, -1) {
		pid, _ := strconv.Atoi(string(m[1]))
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		t.Errorf("the worker wrapper never exec'd the umt worker")
		return nil
	}
	dofnLines := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Msg string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Msg, "prep:") {
			dofnLines++
		}
	}
	if dofnLines == 0 {
		t.Errorf("no log record of prep's DoFns in the worker's output (a JSON line with a message \"prep: ...\", such as \"prep: teacher backend\" from the teacher DoFn's setup with --device=auto): the work did not run in the worker process")
	}
	return pids
}

// datasetFiles maps every file of a local dataset to its sha256, without the run report (it
// holds timings and the runner) and failing on leftover staging files.
func datasetFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "prep-report.json" || rel == ReportPlotName {
			return nil
		}
		if strings.HasPrefix(rel, "_staging"+string(filepath.Separator)) {
			t.Errorf("%s: staged file left after the commit: %s", root, rel)
			return nil
		}
		sum := sha256.Sum256(mustRead(t, p))
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
