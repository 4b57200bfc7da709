//go:build unix && !linux

package mptest

import (
	"os"
	"syscall"
)

// Children is only implemented on Linux; elsewhere it reports none.
func Children(ppid int) ([]ChildInfo, error) { return nil, nil }

// Exists reports whether a process with this pid exists (signal 0 reaches it).
func Exists(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

// Stat is only implemented on Linux; elsewhere ok is always false.
func Stat(pid int) (ProcStat, bool) { return ProcStat{}, false }
