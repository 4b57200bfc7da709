//go:build unix

package bootstrap

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseInherited closes every descriptor above stderr that this process inherited across exec,
// except keep. A descriptor that survived exec has no close-on-exec flag, while every descriptor
// the Go runtime and standard library open has one; so the inherited ones are exactly those
// without the flag. Call it before user code opens descriptors of its own without the flag.
func CloseInherited(keep int) {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 || fd == keep {
			continue
		}
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
