package mp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mp-go/mp/internal/sys"
)

// Conn is one end of a pipe made by Pipe: Python's multiprocessing.connection.Connection. Values
// of type T go in with Send and come out, in order, with Recv at the other end; SendBytes and
// RecvBytes move raw bytes. A Conn may be handed to a child in a task argument (or sent over
// another Conn); the child's copy is the same end of the same pipe, with the same limits.
//
// Recv reports io.EOF once the other end has been closed in every process that held it and every
// message sent before has been received — so a process that hands an end to a child and will not
// use it must Close its own copy, or the reader never sees the end (examples/pipe_eof shows it).
// Send to an end whose peer is closed everywhere fails with an error matching syscall.EPIPE.
//
// A Conn is safe for concurrent use: one goroutine at a time sends and one receives (each side is
// locked). An end is meant to be used
// by one process at a time in each direction: Recv reads ahead into a buffer of its own, so two
// processes receiving from copies of one end take each other's bytes, and a message larger than
// the socket's buffer sent from two processes at once can interleave — as in Python, where this
// is documented as unsafe. For many producers or consumers, use a Queue.
//
// A receiver trusts nothing it reads. A message is at most DefaultMaxMessage bytes (256 MiB)
// unless WithMaxMessage says otherwise; its buffer grows as its bytes arrive, so a peer cannot
// make a receiver hold more memory than it actually sent (about four times that at most, while a
// large message is coming in). Decoding is bounded as the codec's DecodeLimits say. What a failed
// Recv leaves:
//
//   - a message that does not decode into T, a malformed handle envelope, or a handle that does
//     not fit where it arrived: an ErrDecode error; the message is consumed, the descriptors that
//     came with it are closed, and the Conn stays usable;
//   - a message larger than the limit: an error matching both ErrTooLarge and ErrDecode, at once,
//     when its header arrives; its descriptors are closed, its bytes are discarded by the next
//     Recv as they arrive, and the Conn stays usable;
//   - a stream that breaks the pipe's framing — an unknown message kind, descriptors announced
//     that did not come, more than the kernel passes at once: an ErrProtocol error, and the Conn
//     is closed (later calls fail with ErrClosed);
//   - the other end closed in the middle of a message: an error matching ErrProtocol and
//     io.ErrUnexpectedEOF, returned by every later Recv too.
//
// An end is a handle (see the package doc): pass it in a task or Process argument, or over
// another Conn (not on a Queue). A Conn is a Unix stream socket, so it costs a descriptor and the
// socket's kernel buffers; a small value sent to a child that sends it back makes the round trip in
// about 15 µs on a 2-core Linux VM (pipe_pingpong in bench/compare), a bare socketpair's floor
// being 8 µs.
//
// A Conn made by Listen, Accept, Dial (or package mpnet) is a network connection instead: see
// Listener. It works as documented here, except that no handle can cross it (a value holding one
// is an ErrNotSupported error, and the Conn itself cannot be passed to another process), and
// that Recv decodes every message, as Python's recv unpickles every message.
type Conn[T any] struct {
	c *conn    // a pipe: the local transport
	n *netConn // or a network connection (listen_conn.go)
}

// DefaultMaxMessage is the largest message, in bytes, a Conn receives unless WithMaxMessage sets
// another limit: 256 MiB, four times the largest message of the pipe_bandwidth benchmark. The
// limit is about what a receiver agrees to hold, not about memory a peer can make it reserve:
// that follows the bytes that actually arrive.
const DefaultMaxMessage = 256 << 20

// PipeOption configures Pipe.
type PipeOption interface{ applyPipe(*pipeConfig) error }

type pipeConfig struct {
	oneWay bool
	limits connLimits
}

// connLimits are what an end receives; they travel with the end when it is passed on.
type connLimits struct {
	maxMessage int          // the largest payload Recv accepts
	decode     DecodeLimits // as given to WithDecodeLimits (zero fields: defaults)
	dec        cbor.DecMode // the codec's mode for decode
}

func defaultConnLimits() connLimits { return connLimits{maxMessage: DefaultMaxMessage, dec: codecDec} }

type pipeOptionFunc func(*pipeConfig) error

func (f pipeOptionFunc) applyPipe(c *pipeConfig) error { return f(c) }

// OneWay makes Pipe return a receive-only end and a send-only end, in that order, as Python's
// Pipe(duplex=False) returns (r, w).
func OneWay() PipeOption {
	return pipeOptionFunc(func(c *pipeConfig) error { c.oneWay = true; return nil })
}

// PipeConnOption is an option that configures either a pipe (given to Pipe) or a network
// connection (given to Listen, Dial, NewListener or NewClientConn).
type PipeConnOption interface {
	PipeOption
	ConnOption
}

// limitOption sets what an end receives, on a pipe or a network connection.
type limitOption func(*connLimits) error

func (f limitOption) applyPipe(c *pipeConfig) error { return f(&c.limits) }
func (f limitOption) applyConn(c *connConfig) error { return f(&c.limits) }

// WithMaxMessage sets the largest message, in bytes, that the ends of the pipe receive (and send):
// Python's recv_bytes(maxlength), for every receive. It must be between 1 and 4 GiB − 1 (the
// largest a pipe message can be); the default is DefaultMaxMessage. A larger message is refused
// at the sender with an ErrTooLarge error, and by a receiver with an error matching ErrTooLarge
// and ErrDecode, after which the Conn stays usable (see Conn). The limit travels with an end that
// is passed to another process. Given to Listen or Dial, it sets the limit of the connections
// they make, the same way.
func WithMaxMessage(bytes int) PipeConnOption {
	return limitOption(func(l *connLimits) error {
		if bytes < 1 || uint64(bytes) > maxPipeMessage {
			return fmt.Errorf("%w: WithMaxMessage(%d): the limit must be between 1 and %d bytes", ErrInvalidOption, bytes, uint64(maxPipeMessage))
		}
		l.maxMessage = bytes
		return nil
	})
}

// WithDecodeLimits sets the limits of decoding what the ends of the pipe receive with Recv (see
// DecodeLimits; zero fields keep their defaults). A message over a limit is an ErrDecode error,
// and the Conn stays usable. The limits travel with an end that is passed to another process.
// Given to Listen or Dial, it sets the limits of the connections they make.
func WithDecodeLimits(l DecodeLimits) PipeConnOption {
	return limitOption(func(cl *connLimits) error {
		if err := l.check(); err != nil {
			return fmt.Errorf("WithDecodeLimits: %w", err)
		}
		cl.decode = l
		return nil
	})
}

// Pipe returns the two ends of a new pipe: Python's multiprocessing.Pipe. By default both ends send
// and receive; with OneWay, the first only receives and the second only sends. Both are Unix
// stream sockets, so either end can also carry handles. An option out of range is an
// ErrInvalidOption error. T must be a type whose values cross processes intact, as Register's
// argument types must: a T with a struct field the codec would drop (an unexported one) is an
// ErrEncode error naming the field and the fix; a value behind an interface (a Conn[any]) is
// checked by Send.
func Pipe[T any](opts ...PipeOption) (*Conn[T], *Conn[T], error) {
	if err := checkElemType[T]("Pipe"); err != nil {
		return nil, nil, err
	}
	cfg := pipeConfig{limits: defaultConnLimits()}
	for _, o := range opts {
		if o != nil {
			if err := o.applyPipe(&cfg); err != nil {
				return nil, nil, err
			}
		}
	}
	dec, err := cfg.limits.decode.decMode()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: WithDecodeLimits: %v", ErrInvalidOption, err)
	}
	cfg.limits.dec = dec
	a, b, err := newConnPair()
	if err != nil {
		return nil, nil, err
	}
	a.connLimits, b.connLimits = cfg.limits, cfg.limits
	if cfg.oneWay {
		a.canSend, b.canRecv = false, false
	}
	return &Conn[T]{c: a}, &Conn[T]{c: b}, nil
}

// Send encodes v and sends it. v may hold handles (queues, pipe ends, files, network connections),
// which arrive at the other end as working handles. Encoding errors are returned and nothing is
// sent. ctx bounds the wait for room in the pipe; a send cut short by ctx may leave part of the
// message written, after which the pipe is unusable (later sends fail).
func (c *Conn[T]) Send(ctx context.Context, v T) error {
	if err := c.check(true); err != nil {
		return err
	}
	if c.n != nil {
		return c.n.sendValue(ctx, v)
	}
	if raw := rawBytesOf(&v); raw != nil {
		return c.c.send(ctx, msgRaw, raw, nil)
	}
	b, fds, err := encodeArg("value sent", v)
	if err != nil {
		return err
	}
	defer closeFDs(fds)
	return c.c.send(ctx, msgValue, b, fds)
}

// SendBytes sends b as one message, as it is: Python's send_bytes. Receive it with RecvBytes.
func (c *Conn[T]) SendBytes(ctx context.Context, b []byte) error {
	if err := c.check(true); err != nil {
		return err
	}
	if c.n != nil {
		return c.n.send(ctx, b)
	}
	return c.c.send(ctx, msgBytes, b, nil)
}

// Recv waits for the next message and decodes it: Python's recv. It returns io.EOF once the other
// end is closed everywhere and nothing is left; ErrClosed after this end's Close; ctx's error if
// ctx ends first (a message partly received then is kept, and the next Recv continues it). A
// message that does not decode into T is consumed and reported as an ErrDecode error; the pipe
// stays usable. The Conn's doc says what each other failure leaves.
func (c *Conn[T]) Recv(ctx context.Context) (T, error) {
	var v T
	if err := c.check(false); err != nil {
		return v, err
	}
	if c.n != nil {
		b, err := c.n.recv(ctx)
		if err != nil {
			return v, err
		}
		return v, decodeValueWith(c.n.dec, "value received", b, &v)
	}
	kind, b, fds, err := c.c.recv(ctx)
	if err != nil {
		return v, err
	}
	if kind == msgRaw {
		closeFDs(fds)
		return v, setRaw(&v, b)
	}
	if kind != msgValue {
		closeFDs(fds)
		return v, fmt.Errorf("%w: a message sent with SendBytes arrived at Recv; receive it with RecvBytes", ErrDecode)
	}
	err = decodeArgWith(c.c.dec, "value received", b, fds, &v)
	return v, err
}

// RecvBytes waits for the next message and returns its bytes as they were sent: Python's
// recv_bytes. A message sent with Send arrives as its encoding (and the descriptors of its
// handles are closed). It fails as Recv does, except that it never decodes.
func (c *Conn[T]) RecvBytes(ctx context.Context) ([]byte, error) {
	if err := c.check(false); err != nil {
		return nil, err
	}
	if c.n != nil {
		return c.n.recv(ctx)
	}
	_, b, fds, err := c.c.recv(ctx)
	closeFDs(fds)
	return b, err
}

// Poll reports whether a message (or the end of the pipe) is ready to be received, waiting up to
// timeout for one: Python's poll. timeout 0 checks and returns at once; a negative timeout waits
// until something arrives.
func (c *Conn[T]) Poll(timeout time.Duration) (bool, error) {
	if err := c.check(false); err != nil {
		return false, err
	}
	if c.n != nil {
		return c.n.poll(timeout)
	}
	return c.c.poll(timeout)
}

// Close closes this process's copy of the end. Copies held by other processes stay open; the other
// end sees io.EOF once all are closed. Operations after Close fail with ErrClosed; a Recv blocked
// in another goroutine returns ErrClosed. Close is idempotent, and does nothing on a nil Conn.
func (c *Conn[T]) Close() error {
	if c == nil {
		return nil
	}
	if c.n != nil {
		return c.n.close()
	}
	if c.c == nil {
		return nil
	}
	return c.c.close()
}

// String describes the end: "mp.Conn(fd 7, duplex)".
func (c *Conn[T]) String() string {
	if c != nil && c.n != nil {
		return c.n.String()
	}
	if c == nil || c.c == nil {
		return "mp.Conn(nil)"
	}
	return c.c.String()
}

func (c *Conn[T]) check(send bool) error {
	if c == nil || c.c == nil && c.n == nil {
		return zeroUse("*mp.Conn", "mp.Pipe")
	}
	if c.n != nil {
		return nil
	}
	if send && !c.c.canSend {
		return fmt.Errorf("%w: Send on the receive-only end of a one-way pipe", ErrInvalidOption)
	}
	if !send && !c.c.canRecv {
		return fmt.Errorf("%w: Recv on the send-only end of a one-way pipe", ErrInvalidOption)
	}
	return nil
}

// handleDup implements handle: one descriptor, the socket's, with the end's directions and limits.
func (c *Conn[T]) handleDup() ([]int, string, error) {
	if c != nil && c.n != nil {
		return nil, "", &notSupportedError{fmt.Sprintf("mp: %s is a network connection, made by Listen or Dial, and cannot be passed to another process: dial again in the child, or pass a pipe", c.n)}
	}
	if c == nil || c.c == nil {
		return nil, "", zeroUse("*mp.Conn", "mp.Pipe")
	}
	fd, err := c.c.dup()
	if err != nil {
		return nil, "", err
	}
	return []int{fd}, connMeta(c.c.canSend, c.c.canRecv, c.c.connLimits), nil
}

func (*Conn[T]) handleAdopt(fds []int, meta string) (any, error) {
	fd := firstFD(fds)
	send, recv, lim, err := parseConnMeta(meta)
	if err != nil {
		sys.CloseFD(fd)
		return nil, err
	}
	cc, err := adoptConn(fd)
	if err != nil {
		return nil, err
	}
	cc.canSend, cc.canRecv, cc.connLimits = send, recv, lim
	return &Conn[T]{c: cc}, nil
}

// MarshalCBOR refuses to encode a Conn with the cbor package: it is a handle, and handles travel
// only as descriptors, in a task argument, a Process argument or a Conn's Send.
func (c *Conn[T]) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR("*mp.Conn") }

// connMeta describes an end for its receiver: its directions, then its limits when they are not
// the defaults ("*mp.Conn (duplex)\x00<max message>,<depth>,<elements>,<pairs>").
func connMeta(send, recv bool, lim connLimits) string {
	var m string
	switch {
	case send && recv:
		m = "*mp.Conn (duplex)"
	case send:
		m = "*mp.Conn (send)"
	default:
		m = "*mp.Conn (receive)"
	}
	if lim.maxMessage == DefaultMaxMessage && lim.decode == (DecodeLimits{}) {
		return m
	}
	return fmt.Sprintf("%s\x00%d,%d,%d,%d", m, lim.maxMessage, lim.decode.MaxDepth, lim.decode.MaxElements, lim.decode.MaxPairs)
}

// parseConnMeta reads what connMeta wrote; anything else is an error.
func parseConnMeta(meta string) (send, recv bool, lim connLimits, err error) {
	m, limits, hasLimits := strings.Cut(meta, "\x00")
	switch m {
	case "*mp.Conn (duplex)":
		send, recv = true, true
	case "*mp.Conn (send)":
		send = true
	case "*mp.Conn (receive)":
		recv = true
	default:
		return false, false, lim, fmt.Errorf("a %q arrived where the receiver has a *mp.Conn", meta)
	}
	lim = defaultConnLimits()
	if !hasLimits {
		return send, recv, lim, nil
	}
	bad := fmt.Errorf("a *mp.Conn arrived with malformed limits %q", limits)
	f := strings.Split(limits, ",")
	if len(f) != 4 {
		return false, false, lim, bad
	}
	var n [4]int
	for i := range f {
		if n[i], err = strconv.Atoi(f[i]); err != nil {
			return false, false, lim, bad
		}
	}
	var cfg pipeConfig
	if err := WithMaxMessage(n[0]).applyPipe(&cfg); err != nil {
		return false, false, lim, fmt.Errorf("a *mp.Conn arrived with limits out of range: %v", err)
	}
	d := DecodeLimits{MaxDepth: n[1], MaxElements: n[2], MaxPairs: n[3]}
	if err := d.check(); err != nil {
		return false, false, lim, fmt.Errorf("a *mp.Conn arrived with limits out of range: %v", err)
	}
	dec, err := d.decMode()
	if err != nil {
		return false, false, lim, fmt.Errorf("a *mp.Conn arrived with limits out of range: %v", err)
	}
	return send, recv, connLimits{maxMessage: cfg.limits.maxMessage, decode: d, dec: dec}, nil
}

// Message kinds on a pipe.
const (
	msgValue byte = 1 // encoded by the codec (Send)
	msgBytes byte = 2 // raw (SendBytes)
	msgRaw   byte = 3 // a value of a plain type, a byte slice or a string, as its bytes (Send)
)

// maxPipeMessage is the largest message a pipe can carry (its length field is 32 bits).
const maxPipeMessage = 1<<32 - 1

// tooLargeError reports a message over a Conn's limit. It matches ErrTooLarge and, since the
// receiver refuses what it read, ErrDecode.
type tooLargeError struct{ msg string }

func (e *tooLargeError) Error() string { return e.msg }

func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge || target == ErrDecode }
