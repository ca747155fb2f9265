package runners

import (
	"flag"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/harness/init" // registers --worker and the harness hook
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// IsWorkerInvocation reports whether args (os.Args[1:]) are a Beam worker harness invocation:
// the container's boot program runs `<binary> --worker=true --id=... --control_endpoint=...`
// with no subcommand.
func IsWorkerInvocation(args []string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == "worker" || a == "worker=true" || a == "worker=1" {
			return true
		}
	}
	return false
}

// RunWorker parses the harness flags into the global flag set and hands control to Beam's
// harness, which serves bundles until the runner is done and then exits the process.
// It returns only if the harness does (an error in the flags, for instance).
func RunWorker(args []string) error {
	if err := flag.CommandLine.Parse(args); err != nil {
		return err
	}
	// beam.Init replaces slog's default handler; choose its format before it does.
	beamlog.LogKind = "json"
	beam.Init()
	return nil
}
