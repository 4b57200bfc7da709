package bootstrap

import (
	"os"
	"syscall"
)

// SelfExe is the path a child is executed from. The kernel's self-exe link keeps naming the
// running binary even after the file on disk has been replaced or removed.
func SelfExe() (string, error) { return "/proc/self/exe", nil }

// NoPdeathsigEnv, when set to 1 in a parent's environment, starts its children without the
// parent-death signal, leaving only the control socket's end-of-file to end them when the parent
// dies: the mechanism platforms without the signal rely on. It exists so that tests can exercise
// that fallback on Linux.
const NoPdeathsigEnv = "MP_DEBUG_NO_PDEATHSIG"

// SysProcAttr returns the attributes every child is started with: on Linux, SIGKILL when the
// spawning thread (see Start) — and so the parent process — dies.
func SysProcAttr() *syscall.SysProcAttr {
	if os.Getenv(NoPdeathsigEnv) == "1" {
		return &syscall.SysProcAttr{}
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// SetProcessName sets the name ps and top show for this process (the thread group leader's comm,
// at most 15 bytes). A child executed through /proc/self/exe would otherwise be called "exe".
func SetProcessName(name string) {
	if len(name) > 15 {
		name = name[:15]
	}
	// Raw calls: os.WriteFile would also try to put the file on the poller, tripling the
	// system calls on the child's start-up path.
	fd, err := syscall.Open("/proc/self/comm", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	syscall.Write(fd, []byte(name))
	syscall.Close(fd)
}
