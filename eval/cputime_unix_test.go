//go:build unix

package eval

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used so far. The
// benchmarks report it per op next to ns/op: on a shared machine wall time
// measures the neighbours, CPU time the code.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
