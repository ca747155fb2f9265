package testenv

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KillWhen runs the test named test of this test binary in a subprocess, with env added to its
// environment, and SIGKILLs it as soon as ready() holds: a crash at a moment the caller picks.
// It reports whether the child was killed (false: it finished first, which it logs). A child
// that gets nowhere within 3 minutes fails the test with its output.
func KillWhen(tb testing.TB, test, env string, ready func() bool) bool {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(3 * time.Minute)
	for {
		select {
		case err := <-done:
			tb.Logf("the child finished before the kill (%v); the rerun only re-commits", err)
			return false
		case <-deadline:
			cmd.Process.Kill()
			<-done
			tb.Fatalf("the child did not get far enough within 3 minutes; its output:\n%s", out.String())
		default:
		}
		if ready() {
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
}
