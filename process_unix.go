//go:build unix

package mp

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

var sigTerm os.Signal = syscall.SIGTERM

// controlPair returns the two ends of a new control socket: the parent's as a connection on the
// network poller, the child's as a file to hand over at exec. Both are close-on-exec, so no other
// child inherits them.
func controlPair() (*net.UnixConn, *os.File, error) {
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
	pf := os.NewFile(uintptr(fds[0]), "mp-control")
	c, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("control socket is a %T", c)
	}
	return uc, os.NewFile(uintptr(fds[1]), "mp-control-child"), nil
}
