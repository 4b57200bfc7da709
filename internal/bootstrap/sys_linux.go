package bootstrap

import "syscall"

// SelfExe is the path a child is executed from. The kernel's self-exe link keeps naming the
// running binary even after the file on disk has been replaced or removed.
func SelfExe() (string, error) { return "/proc/self/exe", nil }

// SysProcAttr returns the attributes every child is started with: on Linux, SIGKILL when the
// spawning thread (see Start) — and so the parent process — dies.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

const fdDir = "/proc/self/fd"
