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
