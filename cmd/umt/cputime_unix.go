//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used so far (getrusage), the
// measure of work that a shared machine's other load does not inflate.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
