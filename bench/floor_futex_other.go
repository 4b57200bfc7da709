//go:build unix && !linux

package bench

import (
	"context"
	"errors"
	"time"
)

// haveFutexFloors says that the futex floors of the lock and event workloads do not run here:
// they need Linux's futex system call. Those workloads have no floor elsewhere.
const haveFutexFloors = false

var errNoFutex = errors.New("bench: the futex floors run on Linux only")

// EventPingPong is the event floor, which runs on Linux only.
func (f *Floor) EventPingPong(ctx context.Context, n, warm, spin int) ([]time.Duration, error) {
	return nil, errNoFutex
}

// LockContention is the lock_contention floor, which runs on Linux only.
func (f *Floor) LockContention(ctx context.Context, perProc int) (time.Duration, error) {
	return 0, errNoFutex
}

// LockUncontended is the lock_uncontended floor, which runs on Linux only.
func LockUncontended(n int) (time.Duration, error) { return 0, errNoFutex }
