package statsfeed

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used:
// benchmarks report it per op, which, unlike ns/op, does not grow when
// other processes compete for the machine's two cores. It includes the
// stats feed's goroutines (NATS, the Follower), which is the point.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
