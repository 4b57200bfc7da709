package mp

import "golang.org/x/sys/unix"

// managerAbstract: macOS has no abstract socket namespace; managers listen on a socket file.
const managerAbstract = false

func managerPeerUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(cred.Uid), nil
}
