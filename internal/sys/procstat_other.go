//go:build !linux

package sys

import "time"

// CPUTime returns 0: only Linux says, through /proc.
func CPUTime(pid int) time.Duration { return 0 }
