//go:build unix

package mp

import (
	"io"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// relayBuffers are the buffers of Serve's relays (manager_remote.go): a relay whose source is a
// socket waits for it to be readable without one, and takes one only to copy, so that an idle
// connection holds no buffer.
var relayBuffers = sync.Pool{New: func() any { b := make([]byte, relayBuffer); return &b }}

// relayCopy copies src to dst until src ends or either fails.
func relayCopy(dst io.Writer, src io.Reader) {
	sc, ok := src.(syscall.Conn)
	var rc syscall.RawConn
	if ok {
		var err error
		if rc, err = sc.SyscallConn(); err != nil {
			ok = false
		}
	}
	if !ok { // a *tls.Conn, say: its own buffer
		io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, make([]byte, relayBuffer))
		return
	}
	var one [1]byte
	wait := func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN && err != unix.EINTR
	}
	for {
		if err := rc.Read(wait); err != nil {
			return
		}
		bp := relayBuffers.Get().(*[]byte)
		n, err := src.Read(*bp)
		if n > 0 {
			if _, werr := dst.Write((*bp)[:n]); werr != nil {
				err = werr
			}
		}
		relayBuffers.Put(bp)
		if err != nil {
			return
		}
	}
}
