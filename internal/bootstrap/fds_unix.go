//go:build unix

package bootstrap

import (
	"os"
	"runtime"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseInherited closes every descriptor above stderr that this process inherited across exec,
// except keep. A descriptor that survived exec has no close-on-exec flag, while every descriptor
// the Go runtime and standard library open has one; so the inherited ones are exactly those
// without the flag. Call it before user code opens descriptors of its own without the flag.
// Descriptors in keep stay open.
//
// It lists the descriptors with raw system calls into a stack buffer: it runs on every child's
// start-up path, where os.ReadDir's allocations, sorting and poller registration showed up.
func CloseInherited(keep []int) {
	fdDir := "/dev/fd"
	if runtime.GOOS == "linux" {
		fdDir = "/proc/self/fd"
	}
	dir, err := unix.Open(fdDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	var fds [64]int
	list := fds[:0]
	var buf [4096]byte
	var names [64]string
	for {
		n, err := unix.ReadDirent(dir, buf[:])
		if err != nil || n <= 0 {
			break
		}
		_, _, got := unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range got {
			fd, err := strconv.Atoi(name)
			if err == nil && fd > 2 && !slices.Contains(keep, fd) && fd != dir {
				list = append(list, fd)
			}
		}
	}
	unix.Close(dir)
	for _, fd := range list {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		unix.Close(fd)
	}
}

// KillSelf ends this process with SIGKILL, as the parent-death signal would.
func KillSelf() {
	unix.Kill(os.Getpid(), unix.SIGKILL)
	select {}
}

// ControlFile makes fd, one end of a control socket, a close-on-exec, non-blocking *os.File on
// the runtime's poller, so that reading it parks a goroutine rather than a thread.
func ControlFile(fd int) (*os.File, error) {
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(fd), "mp-control"), nil
}
