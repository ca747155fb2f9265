// Package runnertest starts a standalone Prism job server for tests of the portable path (the
// same submission path a Flink job server takes): it builds Beam's own cmd/prism from the
// module cache with `go build` once per Beam version, caches the binary, and runs it as a
// subprocess on free ports. Subprocesses run in their own process group (Command), so workers
// the job server starts are killed with it and cannot keep a test waiting on their pipes.
package runnertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const prismPkg = "github.com/apache/beam/sdks/v2/go/cmd/prism"

var buildOnce struct {
	sync.Mutex
	path string
}

// PrismBinary builds cmd/prism of the Beam version this module uses into the user cache
// directory (reused by later test runs) and returns its path.
func PrismBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Lock()
	defer buildOnce.Unlock()
	if buildOnce.path != "" {
		return buildOnce.path
	}
	// Hard deadlines: a go command waiting on the network or a lock must not hang the test.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	version := "devel"
	list := Command(ctx, "go", "list", "-m", "-f", "{{.Version}}", "github.com/apache/beam/sdks/v2")
	var listOut bytes.Buffer
	list.Stdout = &listOut
	if err := Run(list); err == nil {
		version = string(bytes.TrimSpace(listOut.Bytes()))
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "umt", "prism-"+version)
	bin := filepath.Join(dir, "prism")
	if _, err := os.Stat(bin); err == nil {
		buildOnce.path = bin
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	cmd := Command(ctx, "go", "build", "-o", tmp, prismPkg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := Run(cmd); err != nil {
		tb.Fatalf("building %s: %v\n%s", prismPkg, err, out.String())
	}
	if err := os.Rename(tmp, bin); err != nil {
		tb.Fatal(err)
	}
	buildOnce.path = bin
	return bin
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartPrism runs a standalone Prism job server and returns its job endpoint "localhost:PORT".
// The server is killed when the test ends; its log goes to the test log on failure.
func StartPrism(tb testing.TB) string {
	tb.Helper()
	bin := PrismBinary(tb)
	jobPort, webPort := FreePort(tb), FreePort(tb)
	var log bytes.Buffer
	cmd := Command(context.Background(), bin, fmt.Sprintf("--job_port=%d", jobPort), fmt.Sprintf("--web_port=%d", webPort),
		"--serve_http=false", "--log_level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Dir = tb.TempDir() // PROCESS environments write pipeline_options.json in the server's directory
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting prism: %v", err)
	}
	tb.Cleanup(func() {
		// PROCESS workers are the server's children and inherit its stdout and stderr. Prism
		// kills only the process it started when a job ends; a worker that process started
		// (Beam's boot runs the worker as a child) outlives it, and Beam's Go harness never
		// exits by itself. Killing the process group ends them too; WaitDelay bounds Wait
		// should anything still hold the pipes.
		KillGroup(cmd)
		cmd.Wait()
		if tb.Failed() {
			tb.Logf("prism job server log:\n%s", log.String())
		}
	})
	endpoint := fmt.Sprintf("localhost:%d", jobPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", endpoint, time.Second)
		if err == nil {
			c.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			tb.Fatalf("prism job server did not listen on %s within 30s: %v", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
