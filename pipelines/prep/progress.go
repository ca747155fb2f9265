package prep

import "sync/atomic"

// progress counts clips finished by DoFns running in this process (in-process Prism and
// loopback workers), for the live progress bar; remote workers do not report here.
var progress struct {
	done, failed atomic.Int64
}

// Progress returns the clips finished (ok or failed) and failed so far in this process.
func Progress() (done, failed int64) { return progress.done.Load(), progress.failed.Load() }
