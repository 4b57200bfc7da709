//go:build unix

package mp

import (
	"io"
	"os"
	"syscall"

	"github.com/mp-go/mp/internal/sys"

	"golang.org/x/sys/unix"
)

// spinIO returns the functions that read and write what they can on s without waiting, when s
// is a stream the runtime's poller holds (a socket of Listen or Dial, a *net.TCPConn); nil
// otherwise. again reports that the stream has nothing to read, or no room, now.
func spinIO(s Stream) (tryRead, tryWrite func([]byte) (int, bool, error)) {
	sc, ok := s.(syscall.Conn)
	if !ok {
		return nil, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil
	}
	var rp, wp []byte // what the current read fills, what the current write sends
	var rn, wn int
	var rerr, werr error
	read := func(fd uintptr) {
		for {
			rn, rerr = unix.Read(int(fd), rp)
			if rerr != unix.EINTR {
				return
			}
		}
	}
	write := func(fd uintptr) {
		for len(wp) > 0 {
			m, err := unix.Write(int(fd), wp)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = err
				return
			}
			wp, wn = wp[m:], wn+m
		}
	}
	tryRead = func(b []byte) (int, bool, error) {
		rp, rn, rerr = b, 0, nil
		cerr := rc.Control(read)
		rp = nil
		switch {
		case cerr != nil:
			return 0, false, cerr
		case rerr == unix.EAGAIN:
			return 0, true, nil
		case rerr != nil:
			return 0, false, os.NewSyscallError("read", rerr)
		case rn <= 0 && len(b) > 0:
			return 0, false, io.EOF
		}
		return rn, false, nil
	}
	tryWrite = func(b []byte) (int, bool, error) {
		wp, wn, werr = b, 0, nil
		cerr := rc.Control(write)
		wp = nil
		switch {
		case cerr != nil:
			return 0, false, cerr
		case werr == unix.EAGAIN:
			return wn, true, nil
		case werr != nil:
			return wn, false, os.NewSyscallError("write", werr)
		}
		return wn, false, nil
	}
	return tryRead, tryWrite
}

// yield lets another thread run.
func yield() { sys.Yield() }
