//go:build unix

package mp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mp-go/mp/internal/fdpass"
	"github.com/mp-go/mp/internal/sock"
	"github.com/mp-go/mp/internal/sys"
	"golang.org/x/sys/unix"
)

// A pipe is a Unix stream socket pair. Each message is an 8-byte header — payload length (32
// bits), kind, a spare byte, the number of descriptors attached (16 bits) — and the payload. The
// descriptors of a message's handles ride on its first byte; the receiver keeps every descriptor
// that arrives in order and takes a message's share once the message is complete.
//
// The receiver trusts no header: a payload's buffer starts at firstChunk bytes at most and grows
// fourfold as it fills, so what a message makes the receiver hold follows what arrived; a message
// over the end's limit is refused when its header arrives and its bytes are discarded as they
// come; descriptors that no message claims are closed once every byte read has been consumed.

const pipeHeader = 8

// pipeBuffer is the socket buffer asked for on each side: large messages move in fewer, larger
// transfers (the kernel's default, about 200 KiB, costs a wake-up per 200 KiB).
const pipeBuffer = 1 << 20

// readBuffer holds the small messages read ahead in one system call.
const readBuffer = 64 << 10

// firstChunk is the most a payload's buffer holds before its bytes arrive; payloadGrowth is how
// many times it grows when full.
const (
	firstChunk    = 64 << 10
	payloadGrowth = 4
)

// smallMessage is the largest payload copied into one buffer with its header for a single write;
// larger ones go out with the header in a vectored write.
const smallMessage = 16 << 10

type conn struct {
	f                *os.File
	rc               syscall.RawConn
	fd               int
	canSend, canRecv bool
	closed           atomic.Bool
	connLimits

	wmu        sync.Mutex
	broken     error // a send that failed midway: the stream is no longer framed
	wbuf       []byte
	wout       []byte // what writeFn has left to write
	werr       error
	writeFn    func(fd uintptr) bool
	tryWriteFn func(fd uintptr)

	rmu     sync.Mutex
	rd      *fdpass.Reader
	buf     []byte
	r, w    int    // buf[r:w] is read and not yet consumed
	pending bool   // a message larger than buf is being read into payload
	kind    byte   // of the pending message
	nfds    int    // of the pending message
	size    int    // of the pending message
	payload []byte // of the pending message: the bytes read so far, and room to read more
	skip    int    // bytes of a refused message still to discard
	rerr    error  // the stream ended in the middle of a message: every Recv reports it
	rctx    context.Context
	rundo   func() // set once rctx bounds the socket's reads
}

func newConnPair() (*conn, *conn, error) {
	fds, err := sys.Socketpair()
	if err != nil {
		return nil, nil, err
	}
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, pipeBuffer)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, pipeBuffer)
	}
	a, err := adoptConn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := adoptConn(fds[1])
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, b, nil
}

// adoptConn makes a conn of fd, which it owns; fd must be a stream socket.
func adoptConn(fd int) (*conn, error) {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		unix.Close(fd)
		return nil, errors.New("the descriptor received for a *mp.Conn is not a stream socket")
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	f := os.NewFile(uintptr(fd), "mp-pipe")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	c := &conn{f: f, rc: rc, fd: fd, canSend: true, canRecv: true, connLimits: defaultConnLimits(), rd: fdpass.NewReader(rc)}
	c.writeFn = func(fd uintptr) bool {
		for len(c.wout) > 0 {
			n, err := unix.Write(int(fd), c.wout)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				return false
			}
			if err != nil {
				c.werr = os.NewSyscallError("write", err)
				return true
			}
			c.wout = c.wout[n:]
		}
		return true
	}
	c.tryWriteFn = func(fd uintptr) { c.writeFn(fd) }
	return c, nil
}

// appendHeader appends a message header.
func appendHeader(b []byte, size int, kind byte, nfds int) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	b = append(b, kind, 0)
	return binary.LittleEndian.AppendUint16(b, uint16(nfds))
}

func (c *conn) String() string {
	mode := "duplex"
	if !c.canSend {
		mode = "receive"
	} else if !c.canRecv {
		mode = "send"
	}
	if c.closed.Load() {
		mode += ", closed"
	}
	return fmt.Sprintf("mp.Conn(fd %d, %s)", c.fd, mode)
}

func (c *conn) dup() (int, error) {
	if c.closed.Load() {
		return -1, fmt.Errorf("%w: the *mp.Conn was closed before it was sent", ErrClosed)
	}
	return dupConn(c.f)
}

func (c *conn) close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.f.Close()
	c.rd.Close()
	return err
}

// deadline makes ctx bound the I/O on c in the direction set sets, and returns the function that
// undoes it (sock.Bound). With a ctx that cannot end it does nothing.
func (c *conn) deadline(ctx context.Context, set func(time.Time) error) func() {
	return sock.Bound(ctx, set)
}

// ioError turns an I/O error of c into what the caller should see.
func (c *conn) ioError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		if e := ctx.Err(); e != nil {
			return e
		}
		return context.DeadlineExceeded
	case errors.Is(err, os.ErrClosed) || c.closed.Load():
		return fmt.Errorf("%w: %s on a closed *mp.Conn", ErrClosed, op)
	}
	return fmt.Errorf("mp: %s: %w", op, err)
}

func (c *conn) send(ctx context.Context, kind byte, b []byte, fds []int) error {
	if len(b) > c.maxMessage {
		return fmt.Errorf("%w: Send: a message of %d bytes, and this pipe's limit is %d bytes (mp.WithMaxMessage on Pipe sets it, up to 4 GiB)", ErrTooLarge, len(b), c.maxMessage)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return fmt.Errorf("%w: Send on a closed *mp.Conn", ErrClosed)
	}
	if c.broken != nil {
		return fmt.Errorf("mp: the pipe is unusable since an earlier send was cut short: %w", c.broken)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if len(fds) == 0 && len(b) <= smallMessage {
		// One write of header and payload from a buffer kept for the purpose; ctx matters only
		// if the socket is full.
		c.wbuf = appendHeader(c.wbuf[:0], len(b), kind, 0)
		c.wbuf = append(c.wbuf, b...)
		c.wout = c.wbuf
		err = c.rc.Control(c.tryWriteFn)
		if err == nil && c.werr == nil && len(c.wout) > 0 {
			undo := c.deadline(ctx, c.f.SetWriteDeadline)
			err = c.rc.Write(c.writeFn)
			undo()
		}
		if err == nil {
			err = c.werr
		}
		c.wout, c.werr = nil, nil
	} else {
		hdr := appendHeader(make([]byte, 0, pipeHeader), len(b), kind, len(fds))
		undo := c.deadline(ctx, c.f.SetWriteDeadline)
		err = fdpass.WriteV(c.rc, [][]byte{hdr, b}, fds)
		undo()
	}
	if err != nil {
		err = c.ioError(ctx, "send", err)
		if !errors.Is(err, ErrClosed) {
			c.broken = err
		}
		return err
	}
	return nil
}

func (c *conn) recv(ctx context.Context) (kind byte, payload []byte, fds []int, err error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed.Load() {
		return 0, nil, nil, fmt.Errorf("%w: Recv on a closed *mp.Conn", ErrClosed)
	}
	if c.rerr != nil {
		return 0, nil, nil, c.rerr
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, nil, err
	}
	if c.buf == nil {
		c.buf = make([]byte, readBuffer)
	}
	c.rctx = ctx
	defer c.disarm()
	for {
		if c.skip > 0 {
			// The rest of a refused message: discard it as it comes.
			if c.r < c.w {
				n := min(c.skip, c.w-c.r)
				c.r += n
				c.skip -= n
				continue
			}
			if err := c.fill(ctx); err != nil {
				return 0, nil, nil, err
			}
			continue
		}
		if c.pending {
			for len(c.payload) < c.size {
				if len(c.payload) == cap(c.payload) {
					grown := make([]byte, len(c.payload), min(c.size, payloadGrowth*cap(c.payload)))
					copy(grown, c.payload)
					c.payload = grown
				}
				room := c.payload[len(c.payload):cap(c.payload)]
				var n int
				if c.r < c.w {
					n = copy(room, c.buf[c.r:c.w])
					c.r += n
				} else {
					n, err = c.read(room)
					if err != nil {
						c.payload = c.payload[:len(c.payload)+n]
						return 0, nil, nil, c.readError(ctx, err)
					}
				}
				c.payload = c.payload[:len(c.payload)+n]
			}
			c.pending = false
			kind, payload = c.kind, c.payload
			c.payload = nil
			return c.complete(kind, payload, c.nfds)
		}
		if avail := c.w - c.r; avail >= pipeHeader {
			h := c.buf[c.r : c.r+pipeHeader]
			size := int(binary.LittleEndian.Uint32(h))
			kind, nfds := h[4], int(binary.LittleEndian.Uint16(h[6:]))
			if kind != msgValue && kind != msgBytes && kind != msgRaw {
				return 0, nil, nil, c.violation(fmt.Sprintf("pipe message of unknown kind %d (is something else writing to this pipe?)", kind))
			}
			if nfds > fdpass.MaxFDs {
				return 0, nil, nil, c.violation(fmt.Sprintf("a pipe message announces %d descriptors; at most %d travel with one", nfds, fdpass.MaxFDs))
			}
			if size > c.maxMessage {
				// Refuse it now; its descriptors came with its first byte.
				c.r += pipeHeader
				fds, err := c.rd.Take(nfds)
				if err != nil {
					return 0, nil, nil, c.violation("a message announces more descriptors than came with it")
				}
				closeFDs(fds)
				c.skip = size
				return 0, nil, nil, &tooLargeError{fmt.Sprintf("%v: Recv: a message of %d bytes arrived, and this end accepts at most %d (mp.WithMaxMessage on Pipe raises the limit); it is discarded, and the Conn stays usable", ErrTooLarge, size, c.maxMessage)}
			}
			if avail-pipeHeader >= size {
				payload = append([]byte(nil), c.buf[c.r+pipeHeader:c.r+pipeHeader+size]...)
				c.r += pipeHeader + size
				return c.complete(kind, payload, nfds)
			}
			c.r += pipeHeader
			c.pending, c.kind, c.nfds, c.size = true, kind, nfds, size
			c.payload = make([]byte, 0, min(size, max(firstChunk, c.w-c.r)))
			continue
		}
		if err := c.fill(ctx); err != nil {
			return 0, nil, nil, err
		}
	}
}

// fill reads more bytes into the read-ahead buffer, keeping a partial header at its front.
func (c *conn) fill(ctx context.Context) error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.read(c.buf[c.w:])
	c.w += n
	if err == io.EOF && c.w == 0 && c.skip == 0 {
		return io.EOF // between messages: the clean end
	}
	if err != nil {
		return c.readError(ctx, err)
	}
	return nil
}

// readError turns an error of a read into what Recv returns, and breaks the Conn if the stream
// cannot go on.
func (c *conn) readError(ctx context.Context, err error) error {
	switch {
	case err == io.EOF:
		c.rerr = fmt.Errorf("%w: Recv: the other end closed in the middle of a message (%w)", ErrProtocol, io.ErrUnexpectedEOF)
		return c.rerr
	case errors.Is(err, fdpass.ErrTruncated):
		return c.violation("more descriptors arrived at once than a pipe passes; some were lost")
	}
	return c.ioError(ctx, "recv", err)
}

// violation closes the Conn, whose stream can no longer be trusted, and returns the ErrProtocol
// error that says why, and its likeliest cause: within a process Recv is serialised, so a broken
// stream most often means that two processes used copies of one end at once.
func (c *conn) violation(why string) error {
	c.close()
	return fmt.Errorf("%w: %s; the Conn is closed (were two processes reading one end of the pipe at once, or writing to it? each reads ahead, so they split each other's messages: give each its own Pipe, or guard the end with an mp.Lock)", ErrProtocol, why)
}

// complete takes a received message's descriptors, and closes the descriptors nobody claims.
func (c *conn) complete(kind byte, payload []byte, nfds int) (byte, []byte, []int, error) {
	fds, err := c.rd.Take(nfds)
	if err != nil {
		return 0, nil, nil, c.violation(fmt.Sprintf("a message announces %d descriptors, and fewer came with it", nfds))
	}
	if c.r == c.w && c.rd.Held() > 0 {
		// Every byte read is consumed, and descriptors come with the first byte of their
		// message: those left were sent with no message claiming them.
		closeFDs(c.rd.TakeAll())
	}
	return kind, payload, fds, nil
}

// read reads what is there into p, waiting for something if need be: it tries for up to spinFor
// before parking on the runtime's poller, yielding the CPU between tries. Between processes on
// different CPUs a reply usually comes within that time, and a parked goroutine would wait for the
// poller's thread to notice it and hand it over, which doubled the round trip of a small message
// here; on a shared CPU the yield lets the peer run.
func (c *conn) read(p []byte) (int, error) {
	var start time.Time
	for i := 0; ; i++ {
		n, again, err := c.rd.TryRead(p)
		if !again {
			return n, err
		}
		if i == 0 {
			start = time.Now()
		} else if time.Since(start) > spinFor {
			if c.rundo == nil {
				c.rundo = c.deadline(c.rctx, c.f.SetReadDeadline) // ctx bounds the wait
			}
			return c.rd.Read(p)
		}
		sys.Yield()
	}
}

// disarm ends the hold of the current Recv's ctx on the socket.
func (c *conn) disarm() {
	if c.rundo != nil {
		c.rundo()
		c.rundo = nil
	}
	c.rctx = nil
}

func (c *conn) poll(timeout time.Duration) (bool, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.closed.Load() {
		return false, fmt.Errorf("%w: Poll on a closed *mp.Conn", ErrClosed)
	}
	if c.pending || c.w > c.r || c.rerr != nil {
		return true, nil
	}
	var one [1]byte
	peek := func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN && err != unix.EINTR
	}
	if timeout == 0 {
		ready := false
		if err := c.rc.Control(func(fd uintptr) { ready = peek(fd) }); err != nil {
			return false, c.ioError(context.Background(), "poll", err)
		}
		return ready, nil
	}
	if timeout > 0 {
		c.f.SetReadDeadline(time.Now().Add(timeout))
		defer c.f.SetReadDeadline(time.Time{})
	}
	err := c.rc.Read(peek)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	if err != nil {
		return false, c.ioError(context.Background(), "poll", err)
	}
	return true, nil
}
