package mp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/sock"
)

// A network connection (Listen, Accept, Dial) frames its messages as Python's
// multiprocessing.connection does on a socket: a 4-byte big-endian length, then the bytes; a
// message longer than 0x7fffffff bytes is sent as a length of −1 (0xffffffff) followed by an
// 8-byte big-endian length. No kind travels with a message, so Recv decodes every message and
// RecvBytes returns every message as its bytes.
//
// The receiver trusts no header, as a pipe's receiver does (conn_unix.go): a payload's buffer
// grows as its bytes arrive, a message over the limit is refused when its header arrives and its
// bytes are discarded as they come, and until the peer is authenticated at most preAuthBuffer
// bytes are read at all.

// Framing constants.
const (
	frameHeader     = 4          // the short header: a signed 32-bit length
	frameLongHeader = 12         // −1, then an unsigned 64-bit length
	frameLongAbove  = 0x7fffffff // longer messages take the long header (CPython's rule)
	// maxFrameSkip is the longest message a receiver agrees to discard rather than call a broken
	// stream: a longer announced length is an ErrProtocol error.
	maxFrameSkip = 1 << 62
)

// frameFirstChunk is the most a payload's buffer holds before its bytes arrive; frameGrowth is
// how many times it grows when full (as a pipe's: conn_unix.go).
const (
	frameFirstChunk = 64 << 10
	frameGrowth     = 4
)

// preAuthBuffer is the read-ahead buffer of a connection that is not authenticated yet: nothing
// the peer sends can make this side read more before the handshake is over.
const preAuthBuffer = 512

// Stream is a connected byte stream that a network Conn runs over: an *os.File holding a socket,
// a net.Conn, a *tls.Conn. NewClientConn and NewListener take one; Listen and Dial make their own.
// The Conn owns it once given, and closes it. A stream with a HandshakeContext method (a
// *tls.Conn) has it called first, within the handshake's time (WithHandshakeTimeout).
type Stream interface {
	io.ReadWriteCloser
	// SetReadDeadline and SetWriteDeadline set the time after which a Read or Write waiting
	// returns an error matching os.ErrDeadlineExceeded, as net.Conn's do; the zero time removes
	// it. The Conn uses them to let each call's ctx bound its I/O.
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

type netConn struct {
	s    Stream
	desc string // for String
	// try reads, or writes, what it can without waiting; ok false: not on this stream (spinIO).
	tryRead, tryWrite func([]byte) (n int, again bool, err error)
	closed            atomic.Bool
	connLimits
	keyless     bool // Dial without a key: a challenge arriving is reported as what it is
	handshaking bool // the peer is not authenticated yet

	wmu    sync.Mutex
	broken error // a send that failed midway: the stream is no longer framed
	wbuf   []byte

	rmu     sync.Mutex
	buf     []byte
	r, w    int    // buf[r:w] is read and not yet consumed
	pending bool   // a message larger than what buf holds is being read into payload
	size    int    // of the pending message
	payload []byte // of the pending message: the bytes read so far, and room to read more
	skip    int64  // bytes of a refused message still to discard
	rerr    error  // the stream ended in the middle of a message, or broke its framing
	rctx    context.Context
	rundo   func() // set once rctx bounds the stream's reads
	first   bool   // no message has been received yet
}

func newNetConn(s Stream, desc string, lim connLimits) *netConn {
	tr, tw := spinIO(s)
	return &netConn{s: s, tryRead: tr, tryWrite: tw, desc: desc, connLimits: lim, buf: make([]byte, 0, preAuthBuffer), first: true, handshaking: true}
}

// authenticated ends the handshake: the read-ahead buffer grows to its working size, keeping
// what was read past the handshake.
func (n *netConn) authenticated() {
	n.handshaking = false
	b := make([]byte, n.w-n.r, readAhead)
	copy(b, n.buf[n.r:n.w])
	n.buf, n.r, n.w = b, 0, len(b)
}

// readAhead holds the small messages read in one system call once the peer is authenticated.
const readAhead = 64 << 10

// singleWrite is the largest payload copied into one buffer with its header (to keep Nagle's
// algorithm from delaying the second of two small writes, as CPython does).
const singleWrite = 16 << 10

func (n *netConn) String() string {
	if n.closed.Load() {
		return "mp.Conn(" + n.desc + ", closed)"
	}
	return "mp.Conn(" + n.desc + ")"
}

func (n *netConn) close() error {
	if n.closed.Swap(true) {
		return nil
	}
	return n.s.Close()
}

// appendFrameHeader appends the header of a message of size bytes.
func appendFrameHeader(b []byte, size int) []byte {
	if uint64(size) > frameLongAbove {
		b = binary.BigEndian.AppendUint32(b, 0xffffffff)
		return binary.BigEndian.AppendUint64(b, uint64(size))
	}
	return binary.BigEndian.AppendUint32(b, uint32(size))
}

// parseFrameHeader reads the header at the front of b: the message's size and the header's
// length, or hdr 0 if b does not hold all of it yet. A negative length other than −1, or a long
// length beyond maxFrameSkip, is an error.
func parseFrameHeader(b []byte) (size int64, hdr int, err error) {
	if len(b) < frameHeader {
		return 0, 0, nil
	}
	s := int32(binary.BigEndian.Uint32(b))
	switch {
	case s >= 0:
		return int64(s), frameHeader, nil
	case s != -1:
		return 0, 0, fmt.Errorf("a message header announces a length of %d bytes", s)
	case len(b) < frameLongHeader:
		return 0, 0, nil
	}
	l := binary.BigEndian.Uint64(b[frameHeader:])
	if l > maxFrameSkip {
		return 0, 0, fmt.Errorf("a message header announces a length of %d bytes", l)
	}
	return int64(l), frameLongHeader, nil
}

// sendValue encodes v, which must hold no handle, and sends it.
func (n *netConn) sendValue(ctx context.Context, v any) error {
	if v != nil && mayHold(reflect.TypeOf(v)) {
		var out outHandles
		_, changed, err := stripHandles(reflect.ValueOf(v), nil, "value sent", &out)
		out.close()
		if err != nil {
			return err
		}
		if changed {
			return &notSupportedError{fmt.Sprintf("mp: the value sent holds a handle (%s), and handles cannot cross a network connection (made by Listen or Dial): only a pipe's Conn carries them", out.refs[0].describe())}
		}
	}
	b, err := marshalValue("value sent", v)
	if err != nil {
		return err
	}
	return n.send(ctx, b)
}

func (n *netConn) send(ctx context.Context, b []byte) error {
	if len(b) > n.maxMessage {
		return fmt.Errorf("%w: Send: a message of %d bytes, and this connection's limit is %d bytes (mp.WithMaxMessage sets it, up to 4 GiB)", ErrTooLarge, len(b), n.maxMessage)
	}
	return n.write(ctx, b)
}

// write sends b as one message, whatever its size.
func (n *netConn) write(ctx context.Context, b []byte) error {
	n.wmu.Lock()
	defer n.wmu.Unlock()
	if n.closed.Load() {
		return fmt.Errorf("%w: Send on a closed *mp.Conn", ErrClosed)
	}
	if n.broken != nil {
		return fmt.Errorf("mp: the connection is unusable since an earlier send was cut short: %w", n.broken)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var out []byte
	if len(b) <= singleWrite {
		n.wbuf = append(appendFrameHeader(n.wbuf[:0], len(b)), b...)
		out = n.wbuf
	} else {
		var hdr [frameLongHeader]byte
		out = appendFrameHeader(hdr[:0], len(b))
	}
	err := n.writeAll(ctx, out)
	if err == nil && len(b) > singleWrite {
		err = n.writeAll(ctx, b)
	}
	if err != nil {
		err = n.ioError(ctx, "send", err)
		if !errors.Is(err, ErrClosed) {
			n.broken = err
		}
		return err
	}
	return nil
}

// writeAll writes b, without waiting while the stream has room (and without arming ctx), then
// bounded by ctx.
func (n *netConn) writeAll(ctx context.Context, b []byte) error {
	if n.tryWrite != nil {
		m, again, err := n.tryWrite(b)
		if err != nil {
			return err
		}
		if !again {
			return nil
		}
		b = b[m:]
	}
	undo := sock.Bound(ctx, n.s.SetWriteDeadline)
	_, err := n.s.Write(b)
	undo()
	return err
}

// read reads what is there into p, waiting for something if need be: on a stream the runtime's
// poller holds it tries for up to spinFor, yielding the CPU between tries, before it parks with
// rctx bounding the wait, as a pipe's read does (conn_unix.go): a reply that comes within that
// time, as between processes on different CPUs it usually does, is not delayed by the hand-over
// from the poller's thread, nor by arming ctx.
func (n *netConn) read(p []byte) (int, error) {
	if n.tryRead != nil {
		var start time.Time
		for i := 0; ; i++ {
			m, again, err := n.tryRead(p)
			if !again {
				return m, err
			}
			if i == 0 {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				break
			}
			yield()
		}
	}
	if n.rundo == nil && n.rctx != nil {
		n.rundo = sock.Bound(n.rctx, n.s.SetReadDeadline)
	}
	return n.s.Read(p)
}

// arm makes ctx bound the reads of the current Recv (or handshake); disarm ends it.
func (n *netConn) arm(ctx context.Context) { n.rctx = ctx }

func (n *netConn) disarm() {
	if n.rundo != nil {
		n.rundo()
		n.rundo = nil
	}
	n.rctx = nil
}

// ioError turns an I/O error of n into what the caller should see.
func (n *netConn) ioError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		if e := ctx.Err(); e != nil {
			return e
		}
		return context.DeadlineExceeded
	case n.closed.Load():
		return fmt.Errorf("%w: %s on a closed *mp.Conn", ErrClosed, op)
	}
	return fmt.Errorf("mp: %s: %w", op, err)
}

// violation closes the connection, whose stream can no longer be trusted, and returns the
// ErrProtocol error that says why.
func (n *netConn) violation(why string) error {
	n.close()
	n.rerr = fmt.Errorf("%w: %s; the Conn is closed (is the peer speaking multiprocessing.connection's framing?)", ErrProtocol, why)
	return n.rerr
}

// fill reads more of the stream into the read-ahead buffer, keeping what is not consumed at its
// front.
func (n *netConn) fill() error {
	if n.r > 0 {
		n.w = copy(n.buf[:cap(n.buf)], n.buf[n.r:n.w])
		n.r = 0
	}
	m, err := n.read(n.buf[n.w:cap(n.buf)])
	n.w += m
	n.buf = n.buf[:n.w]
	if m > 0 {
		return nil
	}
	if err == nil {
		return nil // a Read of nothing: try again
	}
	return err
}

// readErr turns an error of a read into what Recv returns; the end of the stream in the middle
// of a message breaks the Conn.
func (n *netConn) readErr(ctx context.Context, err error, between bool) error {
	if err == io.EOF {
		if between {
			return io.EOF
		}
		n.rerr = fmt.Errorf("%w: Recv: the other end closed in the middle of a message (%w)", ErrProtocol, io.ErrUnexpectedEOF)
		return n.rerr
	}
	return n.ioError(ctx, "recv", err)
}

func (n *netConn) recv(ctx context.Context) ([]byte, error) {
	n.rmu.Lock()
	defer n.rmu.Unlock()
	if n.closed.Load() {
		return nil, fmt.Errorf("%w: Recv on a closed *mp.Conn", ErrClosed)
	}
	if n.rerr != nil {
		return nil, n.rerr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.arm(ctx)
	defer n.disarm()
	b, err := n.next(ctx, n.maxMessage)
	if err == nil && n.first {
		n.first = false
		if n.keyless && bytes.HasPrefix(b, challengePrefix) && len(b) <= maxHandshakeMessage {
			n.close()
			return nil, fmt.Errorf("%w: the listener sent an authentication challenge: it has an auth key, and this side was dialed without one (give the same mp.WithAuthKey to Dial); the Conn is closed", ErrAuthentication)
		}
	}
	return b, err
}

// next reads the next message, of at most limit bytes; the caller holds rmu, and has made ctx
// bound the stream's reads.
func (n *netConn) next(ctx context.Context, limit int) ([]byte, error) {
	for {
		if n.skip > 0 {
			// The rest of a refused message: discard it as it comes.
			if n.r < n.w {
				d := min(n.skip, int64(n.w-n.r))
				n.r += int(d)
				n.skip -= d
				continue
			}
			if err := n.fill(); err != nil {
				return nil, n.readErr(ctx, err, false)
			}
			continue
		}
		if n.pending {
			for len(n.payload) < n.size {
				if len(n.payload) == cap(n.payload) {
					grown := make([]byte, len(n.payload), min(n.size, frameGrowth*cap(n.payload)))
					copy(grown, n.payload)
					n.payload = grown
				}
				room := n.payload[len(n.payload):cap(n.payload)]
				var m int
				if n.r < n.w {
					m = copy(room, n.buf[n.r:n.w])
					n.r += m
				} else {
					var err error
					m, err = n.read(room)
					if m == 0 && err != nil {
						return nil, n.readErr(ctx, err, false)
					}
				}
				n.payload = n.payload[:len(n.payload)+m]
			}
			n.pending = false
			b := n.payload
			n.payload = nil
			return b, nil
		}
		size, hdr, err := parseFrameHeader(n.buf[n.r:n.w])
		if err != nil {
			return nil, n.violation(err.Error())
		}
		if hdr == 0 {
			if err := n.fill(); err != nil {
				return nil, n.readErr(ctx, err, n.r == n.w)
			}
			continue
		}
		n.r += hdr
		if size > int64(limit) {
			n.skip = size
			if n.handshaking {
				return nil, fmt.Errorf("%w: a handshake message of %d bytes arrived, and at most %d are read before the peer is authenticated", ErrAuthentication, size, limit)
			}
			return nil, &tooLargeError{fmt.Sprintf("%v: Recv: a message of %d bytes arrived, and this connection accepts at most %d (mp.WithMaxMessage raises the limit); it is discarded, and the Conn stays usable", ErrTooLarge, size, limit)}
		}
		if avail := int64(n.w - n.r); avail >= size {
			b := append([]byte(nil), n.buf[n.r:n.r+int(size)]...)
			n.r += int(size)
			return b, nil
		}
		n.pending, n.size = true, int(size)
		n.payload = make([]byte, 0, min(int(size), max(frameFirstChunk, n.w-n.r)))
	}
}

func (n *netConn) poll(timeout time.Duration) (bool, error) {
	n.rmu.Lock()
	defer n.rmu.Unlock()
	if n.closed.Load() {
		return false, fmt.Errorf("%w: Poll on a closed *mp.Conn", ErrClosed)
	}
	if n.pending || n.w > n.r || n.rerr != nil {
		return true, nil
	}
	if timeout == 0 {
		if n.tryRead != nil {
			if n.r > 0 {
				n.w = copy(n.buf[:cap(n.buf)], n.buf[n.r:n.w])
				n.r = 0
				n.buf = n.buf[:n.w]
			}
			m, again, _ := n.tryRead(n.buf[n.w:cap(n.buf)])
			n.w += m
			n.buf = n.buf[:n.w]
			return !again, nil // data, the end, or an error Recv reports
		}
		// A stream the runtime's poller does not hold (a *tls.Conn): wait as little as a
		// deadline lets.
		timeout = time.Millisecond
	}
	if timeout > 0 {
		n.s.SetReadDeadline(time.Now().Add(timeout))
		defer n.s.SetReadDeadline(time.Time{})
	}
	err := n.fill()
	switch {
	case err == nil || err == io.EOF:
		return true, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, nil
	}
	return false, n.ioError(context.Background(), "poll", err)
}

// notSupportedError reports what a network connection cannot do; it matches ErrNotSupported,
// whose own text speaks of platforms.
type notSupportedError struct{ msg string }

func (e *notSupportedError) Error() string { return e.msg }

func (e *notSupportedError) Is(target error) bool { return target == ErrNotSupported }
