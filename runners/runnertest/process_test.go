package runnertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProcessWorkerScript runs the wrapper the way Prism 2.77 does, with a stand-in "binary"
// that prints its arguments: the quotes around the id are gone and the worker gets the
// endpoints boot would pass.
func TestProcessWorkerScript(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "fake worker")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"args: $*\"\necho oops >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "it's.log")
	var cfg struct{ Command string }
	if err := json.Unmarshal([]byte(ProcessWorker(t, fake, logPath)), &cfg); err != nil || cfg.Command == "" {
		t.Fatalf("environment config: %v %+v", err, cfg)
	}
	out, err := exec.Command(cfg.Command, "--id='job-001[go-job-1-42]_go'", "--provision_endpoint=localhost:4242").CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("worker.sh: %v, output %q", err, out)
	}
	log, _ := os.ReadFile(logPath)
	for _, want := range []string{
		"worker.sh: exec ",
		"args: --worker=true --id=job-001[go-job-1-42]_go --control_endpoint=localhost:4242 --logging_endpoint=localhost:4242 --semi_persist_dir=",
		"oops",
	} {
		if !strings.Contains(string(log), want) {
			t.Errorf("worker log lacks %q:\n%s", want, log)
		}
	}
	if err := exec.Command(cfg.Command, "--provision_endpoint=localhost:4242").Run(); err == nil {
		t.Error("worker.sh without --id succeeded")
	}
}

func childPID(t *testing.T, out *bytes.Buffer) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("child pid %q: %v", out.String(), err)
	}
	return pid
}

// TestCommandDeadlineKillsGroup: when the context ends, the command and the child it started
// are killed, and Run returns.
func TestCommandDeadlineKillsGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	cmd := Command(ctx, "sh", "-c", "sleep 60 & echo $!; wait")
	cmd.Stdout = &out
	start := time.Now()
	if err := Run(cmd); err == nil {
		t.Fatal("a command past its deadline succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run returned %v after the deadline", d)
	}
	if pid := childPID(t, &out); !Exited(pid, 5*time.Second) {
		t.Errorf("child %d still runs", pid)
	}
}

// TestRunReturnsWhenChildHoldsPipes is the hang that kept the out-of-process worker test out:
// the command exits, a child it left behind keeps stdout open, and exec.Cmd.Wait (without
// WaitDelay) would wait for that child forever.
func TestRunReturnsWhenChildHoldsPipes(t *testing.T) {
	var out bytes.Buffer
	cmd := Command(context.Background(), "sh", "-c", "sleep 60 & echo $!")
	cmd.Stdout = &out
	start := time.Now()
	err := Run(cmd)
	if !errors.Is(err, exec.ErrWaitDelay) || !strings.Contains(err.Error(), "kept its output open") {
		t.Errorf("got %v, want an error about the child holding the output", err)
	}
	if d := time.Since(start); d > WaitDelay+3*time.Second {
		t.Errorf("Run took %v", d)
	}
	if pid := childPID(t, &out); !Exited(pid, 5*time.Second) {
		t.Errorf("child %d still runs", pid)
	}
}
