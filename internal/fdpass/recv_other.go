//go:build unix && !linux

package fdpass

import "golang.org/x/sys/unix"

// rawRecv calls unix.Recvmsg (which allocates a little per call) where the raw system call is not
// the way in.
type rawRecv struct{}

func (rawRecv) recvmsg(fd int, p, oob []byte) (n, oobn, flags int, err error) {
	n, oobn, flags, _, err = unix.Recvmsg(fd, p, oob, recvFlags|unix.MSG_DONTWAIT)
	return n, oobn, flags, err
}
