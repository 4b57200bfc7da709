//go:build unix

package mp

import (
	"os"
	"syscall"

	"github.com/mp-go/mp/internal/bootstrap"
)

var sigTerm os.Signal = syscall.SIGTERM

// controlPair returns the two ends of a new control socket: the parent's on the runtime's
// poller, the child's as a file to hand over at exec. Both are close-on-exec, so no other child
// inherits them. The package deliberately avoids the net package: importing it makes every
// program that uses mp a dynamically linked binary when cgo is available, and each child would
// then pay for the dynamic loader at start-up (about 1 ms and 1.3 MiB here).
func controlPair() (*os.File, *os.File, error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	parent, err := bootstrap.ControlFile(fds[0])
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	return parent, os.NewFile(uintptr(fds[1]), "mp-control-child"), nil
}

// setOwnGroup puts the child in a new process group, so that the terminal's Ctrl-C (sent to the
// foreground group) does not reach it: its parent decides when it stops.
func setOwnGroup(attr *syscall.SysProcAttr) { attr.Setpgid = true }
