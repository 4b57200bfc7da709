//go:build unix

package mp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// tryFill reads what has arrived on n's stream into its buffer without waiting, when the stream
// is one the runtime's poller holds (an *os.File, a *net.TCPConn): ok reports whether it could
// tell, ready whether something (or the end) is there.
func tryFill(n *netConn) (ready, ok bool) {
	sc, isRaw := n.s.(syscall.Conn)
	if !isRaw {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	if n.r > 0 {
		n.w = copy(n.buf[:cap(n.buf)], n.buf[n.r:n.w])
		n.r = 0
		n.buf = n.buf[:n.w]
	}
	var m int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		for {
			m, rerr = unix.Read(int(fd), n.buf[n.w:cap(n.buf)])
			if rerr != unix.EINTR {
				return true
			}
		}
	}); err != nil {
		return true, true // closed, say: Recv reports it
	}
	if rerr == unix.EAGAIN {
		return false, true
	}
	if m > 0 {
		n.w += m
		n.buf = n.buf[:n.w]
	}
	return true, true
}
