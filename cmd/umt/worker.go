package main

import (
	"fmt"
	"os"

	"github.com/umt-dev/umt/runners"
)

func isWorkerInvocation(args []string) bool { return runners.IsWorkerInvocation(args) }

// runWorker serves a remote runner's bundles (Dataflow, Flink); it does not return on success.
func runWorker(args []string) int {
	if err := runners.RunWorker(args); err != nil {
		fmt.Fprintf(os.Stderr, "umt worker: %v\n", err)
		return 2
	}
	return 0
}
