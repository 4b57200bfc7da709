package fdpass

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawRecv holds recvmsg's arguments so that a read allocates nothing (unix.Recvmsg allocates
// its iovec and a source address on every call).
type rawRecv struct {
	msg unix.Msghdr
	iov unix.Iovec
}

func (r *rawRecv) recvmsg(fd int, p, oob []byte) (n, oobn, flags int, err error) {
	var dummy byte
	if len(p) > 0 {
		r.iov.Base = &p[0]
	} else {
		r.iov.Base = &dummy
	}
	r.iov.SetLen(len(p))
	r.msg = unix.Msghdr{Iov: &r.iov}
	r.msg.SetIovlen(1)
	if len(oob) > 0 {
		r.msg.Control = &oob[0]
		r.msg.SetControllen(len(oob))
	}
	m, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msg)), uintptr(recvFlags|unix.MSG_DONTWAIT))
	r.iov.Base, r.msg.Control = nil, nil
	if e != 0 {
		return 0, 0, 0, syscall.Errno(e)
	}
	return int(m), int(r.msg.Controllen), int(r.msg.Flags), nil
}
