package mp

import (
	"context"
	"fmt"
	"time"
)

// Conn is one end of a pipe made by Pipe: Python's multiprocessing.connection.Connection. Values
// of type T go in with Send and come out, in order, with Recv at the other end; SendBytes and
// RecvBytes move raw bytes. A Conn may be handed to a child in a task argument (or sent over
// another Conn); the child's copy is the same end of the same pipe.
//
// Recv reports io.EOF once the other end has been closed in every process that held it and every
// message sent before has been received — so a process that hands an end to a child and will not
// use it must Close its own copy, or the reader never sees the end (the seeds' EOFError lesson).
// Send to an end whose peer is closed everywhere fails with an error matching syscall.EPIPE.
//
// One goroutine at a time sends and one receives (each side is locked). An end is meant to be used
// by one process at a time in each direction: Recv reads ahead into a buffer of its own, so two
// processes receiving from copies of one end take each other's bytes, and a message larger than
// the socket's buffer sent from two processes at once can interleave — as in Python, where this
// is documented as unsafe. For many producers or consumers, use a Queue.
type Conn[T any] struct {
	c *conn
}

// PipeOption configures Pipe.
type PipeOption interface{ applyPipe(*pipeConfig) }

type pipeConfig struct{ oneWay bool }

type pipeOptionFunc func(*pipeConfig)

func (f pipeOptionFunc) applyPipe(c *pipeConfig) { f(c) }

// OneWay makes Pipe return a receive-only end and a send-only end, in that order, as Python's
// Pipe(duplex=False) returns (r, w).
func OneWay() PipeOption { return pipeOptionFunc(func(c *pipeConfig) { c.oneWay = true }) }

// Pipe returns the two ends of a new pipe: Python's multiprocessing.Pipe. By default both ends send
// and receive; with OneWay, the first only receives and the second only sends. Both are Unix
// stream sockets, so either end can also carry handles. T must be a type whose values cross
// processes intact, as Register's argument types must: a T with a struct field the codec would
// drop (an unexported one) is an ErrEncode error naming the field and the fix; a value behind an
// interface (a Conn[any]) is checked by Send.
func Pipe[T any](opts ...PipeOption) (*Conn[T], *Conn[T], error) {
	if err := checkElemType[T]("Pipe"); err != nil {
		return nil, nil, err
	}
	var cfg pipeConfig
	for _, o := range opts {
		if o != nil {
			o.applyPipe(&cfg)
		}
	}
	a, b, err := newConnPair()
	if err != nil {
		return nil, nil, err
	}
	if cfg.oneWay {
		a.canSend, b.canRecv = false, false
	}
	return &Conn[T]{a}, &Conn[T]{b}, nil
}

// Send encodes v and sends it. v may hold handles (queues, pipe ends, files, network connections),
// which arrive at the other end as working handles. Encoding errors are returned and nothing is
// sent. ctx bounds the wait for room in the pipe; a send cut short by ctx may leave part of the
// message written, after which the pipe is unusable (later sends fail).
func (c *Conn[T]) Send(ctx context.Context, v T) error {
	if err := c.check(true); err != nil {
		return err
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
	return c.c.send(ctx, msgBytes, b, nil)
}

// Recv waits for the next message and decodes it: Python's recv. It returns io.EOF once the other
// end is closed everywhere and nothing is left; ErrClosed after this end's Close; ctx's error if
// ctx ends first (a message partly received then is kept, and the next Recv continues it). A
// message that does not decode into T is consumed and reported as an ErrDecode error; the pipe
// stays usable.
func (c *Conn[T]) Recv(ctx context.Context) (T, error) {
	var v T
	if err := c.check(false); err != nil {
		return v, err
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
	err = decodeArg("value received", b, fds, &v)
	return v, err
}

// RecvBytes waits for the next message and returns its bytes as they were sent: Python's
// recv_bytes. A message sent with Send arrives as its encoding.
func (c *Conn[T]) RecvBytes(ctx context.Context) ([]byte, error) {
	if err := c.check(false); err != nil {
		return nil, err
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
	return c.c.poll(timeout)
}

// Close closes this process's copy of the end. Copies held by other processes stay open; the other
// end sees io.EOF once all are closed. Operations after Close fail with ErrClosed; a Recv blocked
// in another goroutine returns ErrClosed. Close is idempotent.
func (c *Conn[T]) Close() error {
	if c == nil || c.c == nil {
		return nil
	}
	return c.c.close()
}

// String describes the end: "mp.Conn(fd 7, duplex)".
func (c *Conn[T]) String() string {
	if c == nil || c.c == nil {
		return "mp.Conn(nil)"
	}
	return c.c.String()
}

func (c *Conn[T]) check(send bool) error {
	if c == nil || c.c == nil {
		return fmt.Errorf("%w: use of a nil or zero *mp.Conn; make one with mp.Pipe", ErrClosed)
	}
	if send && !c.c.canSend {
		return fmt.Errorf("%w: Send on the receive-only end of a one-way pipe", ErrInvalidOption)
	}
	if !send && !c.c.canRecv {
		return fmt.Errorf("%w: Recv on the send-only end of a one-way pipe", ErrInvalidOption)
	}
	return nil
}

func (c *Conn[T]) handleDup() (int, string, error) {
	if c == nil || c.c == nil {
		return -1, "", fmt.Errorf("%w: a zero *mp.Conn", ErrClosed)
	}
	fd, err := c.c.dup()
	return fd, connMeta(c.c.canSend, c.c.canRecv), err
}

func (*Conn[T]) handleAdopt(fd int, meta string) (any, error) {
	send, recv, ok := parseConnMeta(meta)
	if !ok {
		closeFD(fd)
		return nil, fmt.Errorf("a %s arrived where the receiver has a *mp.Conn", meta)
	}
	cc, err := adoptConn(fd)
	if err != nil {
		return nil, err
	}
	cc.canSend, cc.canRecv = send, recv
	return &Conn[T]{cc}, nil
}

// MarshalCBOR refuses to encode a Conn outside a task argument or a Send, where it would lose its
// descriptor.
func (c *Conn[T]) MarshalCBOR() ([]byte, error) {
	return nil, fmt.Errorf("%w: a *mp.Conn travels only in a task argument or a Conn's Send", ErrEncode)
}

func connMeta(send, recv bool) string {
	switch {
	case send && recv:
		return "*mp.Conn (duplex)"
	case send:
		return "*mp.Conn (send)"
	default:
		return "*mp.Conn (receive)"
	}
}

func parseConnMeta(m string) (send, recv, ok bool) {
	switch m {
	case "*mp.Conn (duplex)":
		return true, true, true
	case "*mp.Conn (send)":
		return true, false, true
	case "*mp.Conn (receive)":
		return false, true, true
	}
	return false, false, false
}

// Message kinds on a pipe.
const (
	msgValue byte = 1 // encoded by the codec (Send)
	msgBytes byte = 2 // raw (SendBytes)
	msgRaw   byte = 3 // a value of a plain type, a byte slice or a string, as its bytes (Send)
)

// maxPipeMessage is the largest message a pipe carries (its length field is 32 bits).
const maxPipeMessage = 1<<32 - 1
