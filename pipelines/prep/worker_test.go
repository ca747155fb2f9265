package prep

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/umt-dev/umt/runners"
	"github.com/umt-dev/umt/runners/runnertest"
)

// TestOutOfProcessWorkers runs the job the way remote runners do: the job server starts Beam's
// boot program (built from the Beam module), which fetches the staged --worker_binary (the umt
// binary, as make worker builds it) and runs it with --worker. Only the container is missing.
// Prism 2.77 quotes the worker id it passes to PROCESS environments, so a two-line wrapper
// strips the quotes. Slow (builds umt and boot): UMT_SOAK=1.
func TestOutOfProcessWorkers(t *testing.T) {
	if os.Getenv("UMT_SOAK") == "" {
		t.Skip("builds the umt worker and Beam's boot program; run with UMT_SOAK=1")
	}
	dir := t.TempDir()
	worker, boot := filepath.Join(dir, "umt"), filepath.Join(dir, "boot")
	for _, b := range [][]string{{"-o", worker, "github.com/umt-dev/umt/cmd/umt"}, {"-o", boot, "github.com/apache/beam/sdks/v2/go/container"}} {
		if out, err := exec.Command("go", append([]string{"build", "-ldflags=-s -w"}, b...)...).CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", b, err, out)
		}
	}
	wrap := filepath.Join(dir, "boot.sh")
	os.WriteFile(wrap, []byte("#!/bin/bash\nargs=()\nfor a in \"$@\"; do case \"$a\" in --id=*) a=\"${a//\\'/}\";; esac; args+=(\"$a\"); done\nexec "+boot+" \"${args[@]}\"\n"), 0o755)

	m, root := smallSet(t, 3)
	local := filepath.Join(t.TempDir(), "local")
	cfg := tinyConfig(t, m, root, local)
	mustRun(t, cfg)
	want := indexOf(t, local)

	endpoint := runnertest.StartPrism(t)
	restore, err := runners.SetFlags(map[string]string{"runner": "universal", "endpoint": endpoint,
		"environment_type": "PROCESS", "environment_config": `{"command":"` + wrap + `"}`, "worker_binary": worker})
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	cfg.Output = filepath.Join(t.TempDir(), "remote")
	mustRun(t, cfg)
	if got := indexOf(t, cfg.Output); got != want {
		t.Errorf("out-of-process workers wrote a different dataset:\n%s\nvs\n%s", got, want)
	}
}
