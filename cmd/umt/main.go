// Command umt is the one CLI of the project: prep (videos → shards), train (stage 1),
// inspect (videos, frames, shards, teacher), bench (this machine's throughput) and version.
//
// Subcommands register themselves in init functions (see registry.go), so each job's flags and
// help live next to the code that runs it. Beam reads pipeline options from the global flag set,
// so subcommands that build pipelines parse their flags into flag.CommandLine; the Beam worker
// harness re-executes this binary with --worker and no subcommand, which main detects first.
package main

import (
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches args to a subcommand and returns the process exit code.
func run(args []string) int {
	if isWorkerInvocation(args) {
		return runWorker(args)
	}
	if len(args) == 0 || isHelp(args[0]) {
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := lookup(args)
	if cmd == nil {
		fmt.Fprintf(os.Stderr, "umt: unknown command %q; the commands are: %s\nRun 'umt --help' for usage.\n", args[0], commandNames(""))
		return 2
	}
	if err := cmd.Run(rest); err != nil {
		if err == errHelpShown {
			return 0
		}
		if ue, ok := err.(usageError); ok {
			fmt.Fprintf(os.Stderr, "umt %s: %v\nRun 'umt %s --help' for usage.\n", cmd.Path, ue.err, cmd.Path)
			return 2
		}
		fmt.Fprintf(os.Stderr, "umt %s: %v\n", cmd.Path, err)
		if ec, ok := err.(interface{ ExitCode() int }); ok {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }
