package mptest

import "os"

// Children is only implemented on Linux; elsewhere it reports none.
func Children(ppid int) ([]ChildInfo, error) { return nil, nil }

// Exists reports whether a process with this pid can be opened.
func Exists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// Stat is only implemented on Linux; elsewhere ok is always false.
func Stat(pid int) (ProcStat, bool) { return ProcStat{}, false }
