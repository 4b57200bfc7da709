package sys

import (
	"os"

	"golang.org/x/sys/unix"
)

// GrowWorkerPipe raises the buffer of a pool worker's call or reply pipe (an os.Pipe, not the
// socket under mp.Conn) to 1 MiB from 64 KiB, so that a chunk of a map goes in one write. A
// failure (a lower system limit) leaves the default.
func GrowWorkerPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20)
	})
}
