//go:build unix

// Package fdpass moves descriptors between processes over Unix sockets (SCM_RIGHTS).
//
// A descriptor travels attached to the first byte of the data it is sent with. The receiver reads
// with recvmsg and keeps every descriptor that arrives in a FIFO (Reader.Take), so a protocol that
// says in its data how many descriptors a message carries can read the message and then take that
// many: they have always arrived by the time the message's last byte has.
package fdpass

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrMissing reports a message that announced more descriptors than arrived with it (Take).
var ErrMissing = errors.New("fdpass: a message announced more descriptors than arrived with it")

// ErrTruncated reports descriptors the kernel dropped because they did not fit in the control
// buffer: more than MaxFDs attached to one read. The bytes read with them are returned.
var ErrTruncated = errors.New("fdpass: descriptors were lost (control data truncated)")

// MaxFDs is the largest number of descriptors one message may carry (the kernel's SCM_MAX_FD).
const MaxFDs = 253

// oobSize is the control buffer a read needs to receive MaxFDs descriptors.
var oobSize = unix.CmsgSpace(MaxFDs * 4)

// Write writes all of data to rc, a stream socket, with fds attached to the first byte. It blocks
// (parking the goroutine on the runtime's poller when rc is non-blocking) until everything is
// written or an error occurs.
func Write(rc syscall.RawConn, data []byte, fds []int) error {
	return WriteV(rc, [][]byte{data}, fds)
}

// Reader reads a stream socket with recvmsg, keeping the descriptors that arrive. It does not
// buffer data: every Read returns at most len(p) bytes read straight into p, so the socket can be
// handed to another reader afterwards without losing bytes. One goroutine at a time may read.
type Reader struct {
	rc  syscall.RawConn
	oob []byte
	raw rawRecv // the system call's arguments, kept to make no garbage per read

	// The current read's arguments and outcome, for the callbacks made once in NewReader.
	p      []byte
	n      int
	err    error
	again  bool
	readFn func(fd uintptr) bool
	tryFn  func(fd uintptr)

	mu  sync.Mutex
	fds []int
}

// NewReader returns a Reader of rc.
func NewReader(rc syscall.RawConn) *Reader {
	r := &Reader{rc: rc, oob: make([]byte, oobSize)}
	r.readFn = func(fd uintptr) bool {
		r.recv(int(fd))
		return !r.again
	}
	r.tryFn = func(fd uintptr) { r.recv(int(fd)) }
	return r
}

// recv makes one non-blocking recvmsg into r.p.
func (r *Reader) recv(fd int) {
	for {
		n, oobn, flags, err := r.raw.recvmsg(fd, r.p, r.oob)
		if err == unix.EINTR {
			continue
		}
		r.n, r.err, r.again = 0, nil, false
		if err == unix.EAGAIN {
			r.again = true
			return
		}
		if err != nil {
			r.err = os.NewSyscallError("recvmsg", err)
			return
		}
		r.n = n
		if oobn > 0 {
			r.keep(r.oob[:oobn])
		}
		if flags&unix.MSG_CTRUNC != 0 {
			r.err = ErrTruncated
		}
		if n == 0 {
			r.err = io.EOF
		}
		return
	}
}

// Read reads into p, blocking until at least one byte (or end of file) is there.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p = p
	err := r.rc.Read(r.readFn)
	r.p = nil
	if err != nil {
		return 0, err
	}
	return r.n, r.err
}

// TryRead reads into p what is there now, without waiting; again reports that nothing was.
func (r *Reader) TryRead(p []byte) (n int, again bool, err error) {
	r.p = p
	cerr := r.rc.Control(r.tryFn)
	r.p = nil
	if cerr != nil {
		return 0, false, cerr
	}
	return r.n, r.again, r.err
}

func (r *Reader) keep(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			if recvFlags == 0 {
				for _, fd := range fds {
					unix.CloseOnExec(fd) // as MSG_CMSG_CLOEXEC does where it exists
				}
			}
			r.fds = append(r.fds, fds...)
		}
	}
}

// Take removes and returns the n descriptors that arrived first. It fails with ErrMissing when
// fewer than n are held, which means the peer sent fewer than its message said; the descriptors
// held stay held.
func (r *Reader) Take(n int) ([]int, error) {
	if n <= 0 {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) < n {
		return nil, ErrMissing
	}
	fds := append([]int(nil), r.fds[:n]...)
	r.fds = append(r.fds[:0], r.fds[n:]...)
	return fds, nil
}

// Held returns the number of descriptors held.
func (r *Reader) Held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fds)
}

// TakeAll removes and returns every descriptor held.
func (r *Reader) TakeAll() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	fds := r.fds
	r.fds = nil
	return fds
}

// Close closes the descriptors received and not taken.
func (r *Reader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	r.fds = nil
}

// WriteV writes bufs, in order, to rc, a stream socket, with fds attached to the first byte, as
// Write does, without joining them first.
func WriteV(rc syscall.RawConn, bufs [][]byte, fds []int) error {
	if len(fds) > MaxFDs {
		return errors.New("fdpass: too many descriptors in one message")
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(bufs) > 0 || oob != nil {
			n, err := unix.SendmsgBuffers(int(fd), bufs, oob, nil, sendFlags)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				return false
			}
			if err != nil {
				werr = os.NewSyscallError("sendmsg", err)
				return true
			}
			oob = nil
			for n > 0 && len(bufs) > 0 {
				if n >= len(bufs[0]) {
					n -= len(bufs[0])
					bufs = bufs[1:]
				} else {
					bufs[0] = bufs[0][n:]
					n = 0
				}
			}
			for len(bufs) > 0 && len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
