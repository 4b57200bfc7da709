//go:build linux || darwin

package mp

import (
	"os"

	"github.com/mp-go/mp/internal/fdpass"
	"golang.org/x/sys/unix"
)

// managerWriteFDs writes b to the socket f with fds attached to its first byte.
func managerWriteFDs(f *os.File, b []byte, fds []int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return fdpass.Write(rc, b, fds)
}

// newClientTransport is the client's end of a manager connection: it reads with recvmsg, so that
// the descriptors of an attach reply (manager_table.go) are kept, not dropped by the kernel.
func newClientTransport(f *os.File) *sockTransport {
	t := newSockTransport(f)
	if rc, err := f.SyscallConn(); err == nil {
		r := fdpass.NewReader(rc)
		t.r, t.fdr = r, r
	}
	return t
}

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
