package mp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// managerAbstract: macOS has no abstract socket namespace; managers listen on a socket file.
const managerAbstract = false

func managerPeerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}

// managerSocket makes a stream socket that no child inherits: macOS has no SOCK_CLOEXEC, so
// the socket is made and marked under the fork lock, as the standard library does.
func managerSocket() (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

// managerAcceptFD accepts a connection on fd, marked close-on-exec under the fork lock.
func managerAcceptFD(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, _, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	return nfd, err
}
