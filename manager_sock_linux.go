package mp

import "golang.org/x/sys/unix"

// managerAbstract: Linux managers listen in the abstract socket namespace.
const managerAbstract = true

func managerPeerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}

// managerSocket makes a stream socket that no child inherits.
func managerSocket() (int, error) {
	return unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
}

// managerAcceptFD accepts a connection on fd, close-on-exec from the start.
func managerAcceptFD(fd int) (int, error) {
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	return nfd, err
}
