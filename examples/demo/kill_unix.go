//go:build unix

package main

import "syscall"

// sigkill sends SIGKILL to pid: no handler, no cleanup, the process is gone.
func sigkill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
