package mp

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe raises a pipe's buffer to 1 MiB (from 64 KiB), so that a chunk of a map goes in one
// write. Failure (a lower system limit) leaves the default.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20)
	})
}
