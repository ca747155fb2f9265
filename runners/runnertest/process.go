package runnertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// WaitDelay is how long Wait waits for a Command's output pipes after the process exited or
// its context ended; a child that still holds them then no longer blocks Wait.
const WaitDelay = 5 * time.Second

// Command is exec.CommandContext for subprocesses that start processes of their own (a job
// server's workers): it runs in a new process group, the end of ctx kills the whole group, and
// Wait returns at most WaitDelay after the process exits or ctx ends even if a child left
// behind still holds stdout or stderr (Wait then reports exec.ErrWaitDelay). Call KillGroup
// after Wait to end any such child.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		KillGroup(cmd)
		return nil
	}
	cmd.WaitDelay = WaitDelay
	return cmd
}

// KillGroup sends SIGKILL to the process group of a started Command: the process and every
// process it started that did not move to a group of its own.
func KillGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	// Setpgid made the process the leader: its group id is its pid. The group outlives the
	// leader while any member lives.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// Run starts cmd (from Command), waits for it and kills what is left of its process group.
// A child that kept the output pipes open past WaitDelay is an error even when cmd succeeded:
// the child was left running.
func Run(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	err := cmd.Wait()
	KillGroup(cmd)
	if errors.Is(err, exec.ErrWaitDelay) {
		return fmt.Errorf("%s exited but a process it started kept its output open for %v (killed): %w", filepath.Base(cmd.Path), WaitDelay, err)
	}
	return err
}

// ProcessWorker writes a command for Prism's PROCESS environment that runs binary as the Beam
// worker, and returns the --environment_config value naming it. The worker's stdout and stderr
// are appended to logPath, after a line "worker.sh: exec PID ..." per start, so the test can
// tell what ran in the worker and no worker holds the job server's pipes.
//
// Prism runs the command as `CMD --id='ID' --provision_endpoint=HOST:PORT` (Prism 2.77 quotes
// the id) and serves control, logging, provisioning and artifacts on that one endpoint. Where
// Beam's boot program would ask the provision service for the endpoints, stage the worker
// binary and run it as a child, the script strips the quotes and execs binary itself with the
// arguments boot passes, so the worker is the process Prism kills when the job ends (a child
// of boot would outlive it: Beam's Go harness never exits by itself).
func ProcessWorker(tb testing.TB, binary, logPath string) string {
	tb.Helper()
	dir := tb.TempDir()
	script := filepath.Join(dir, "worker.sh")
	body := `#!/bin/sh
# Written by runnertest.ProcessWorker: Prism PROCESS environment -> Beam worker.
id= endpoint=
for a in "$@"; do
	case $a in
	--id=*) id=${a#--id=}; id=${id#\'}; id=${id%\'} ;;
	--provision_endpoint=*) endpoint=${a#--provision_endpoint=} ;;
	esac
done
if [ -z "$id" ] || [ -z "$endpoint" ]; then
	echo "worker.sh: want --id and --provision_endpoint, got: $*" >>{{log}}
	exit 2
fi
TMPDIR={{dir}}
export TMPDIR
echo "worker.sh: exec $$ {{bin}} --id=$id --control_endpoint=$endpoint" >>{{log}}
exec {{bin}} --worker=true --id="$id" --control_endpoint="$endpoint" --logging_endpoint="$endpoint" \
	--semi_persist_dir={{dir}} </dev/null >>{{log}} 2>&1
`
	body = strings.NewReplacer("{{log}}", shellQuote(logPath), "{{bin}}", shellQuote(binary), "{{dir}}", shellQuote(dir)).Replace(body)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		tb.Fatal(err)
	}
	config, err := json.Marshal(map[string]string{"command": script})
	if err != nil {
		tb.Fatal(err)
	}
	return string(config)
}

// Exited reports whether process pid has exited (a zombie counts) within the given time.
func Exited(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		// The state follows the parenthesised command name: "pid (comm) S ...".
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
