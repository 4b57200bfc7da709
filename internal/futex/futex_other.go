//go:build !linux

package futex

import (
	"sync/atomic"
	"time"
)

// Wait blocks while *addr == val, for at most timeout (forever when timeout < 0). Without futexes
// it polls, sleeping 20 µs at first and up to 1 ms between looks.
func Wait(addr *uint32, val uint32, timeout time.Duration) {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	sleep := 20 * time.Microsecond
	for atomic.LoadUint32(addr) == val {
		if timeout >= 0 && !time.Now().Before(deadline) {
			return
		}
		time.Sleep(sleep)
		if sleep < time.Millisecond {
			sleep *= 2
		}
	}
}

// Wake does nothing: waiters poll.
func Wake(addr *uint32, n int) {}

// Native reports whether waits are real futexes (rather than polling).
const Native = false
