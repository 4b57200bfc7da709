package mp

import (
	"os"

	"golang.org/x/sys/unix"
)

// newDeathPipe returns the manager's death pipe: the read end goes to every client that attaches
// a table (a Read returns at end of file once the manager has exited, however it did), the
// write end stays in the manager, unwritten, until it exits. Both are close-on-exec.
func newDeathPipe() (*[2]int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, err
	}
	return &p, nil
}

// watchDeath returns the death pipe's read end fd as a file whose Read returns once the manager
// has exited (through the runtime's poller: no thread waits).
func watchDeath(fd int) *os.File {
	unix.SetNonblock(fd, true)
	return os.NewFile(uintptr(fd), "mp-manager-death")
}
