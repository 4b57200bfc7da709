package mp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ConnOption configures the network connections of Listen, Dial, NewListener and
// NewClientConn. WithMaxMessage and WithDecodeLimits are ConnOptions too.
type ConnOption interface{ applyConn(*connConfig) error }

type connConfig struct {
	limits           connLimits
	authKey          []byte
	legacyAuth       bool
	handshakeTimeout time.Duration
	insecure         bool
	onReject         func(error)
	listenOnly       string // the first listener-only option, to refuse it on Dial
}

// DefaultHandshakeTimeout is how long the auth key's handshake may take, on either side, unless
// WithHandshakeTimeout says otherwise.
const DefaultHandshakeTimeout = 10 * time.Second

// maxPendingConns is how many accepted connections a Listener holds at once, in their handshake
// or authenticated and waiting for Accept; beyond that, new ones wait in the kernel's queue.
const maxPendingConns = 128

type connOptionFunc func(*connConfig) error

func (f connOptionFunc) applyConn(c *connConfig) error { return f(c) }

// WithAuthKey makes the connection authenticate its peer, and itself to its peer, with key: the
// mutual HMAC-SHA256 challenge and response of Python 3.12's multiprocessing.connection
// (Listener(address, authkey=key), Client(address, authkey=key)), with which it interoperates. A
// peer with another key, or with none, fails with an error matching ErrAuthentication on both
// sides. The key is secret: make it long and random (32 bytes of crypto/rand, say). An empty key
// is an ErrInvalidOption error; key is copied.
func WithAuthKey(key []byte) ConnOption {
	return connOptionFunc(func(c *connConfig) error {
		if len(key) == 0 {
			return fmt.Errorf("%w: WithAuthKey with an empty key: give a long random key, the same on both sides", ErrInvalidOption)
		}
		c.authKey = append([]byte(nil), key...)
		return nil
	})
}

// WithLegacyAuth also accepts, with WithAuthKey, the HMAC-MD5 handshake of Python 3.11 and
// older: answering a challenge of theirs, and accepting their answer to this side's. Without it,
// such a peer fails with an ErrAuthentication error that names this option. (CPython 3.12 accepts
// it always; mp does only when asked, HMAC-MD5 being the weaker digest.)
func WithLegacyAuth() ConnOption {
	return connOptionFunc(func(c *connConfig) error { c.legacyAuth = true; return nil })
}

// WithHandshakeTimeout sets how long the auth key's handshake may take: on a Listener, for each
// connection (a peer that has not finished by then is dropped); on Dial, in addition to its ctx.
// The default is DefaultHandshakeTimeout; d must be positive.
func WithHandshakeTimeout(d time.Duration) ConnOption {
	return connOptionFunc(func(c *connConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithHandshakeTimeout(%v): the timeout must be positive", ErrInvalidOption, d)
		}
		c.handshakeTimeout = d
		return nil
	})
}

// WithInsecureListen lets Listen and NewListener listen on an address that is not loopback
// without an auth key: anyone who can reach the address can then connect and send messages
// (which are decoded as data, never run). It is for networks that are protected otherwise.
// Without it, such a listener is refused with an ErrInvalidOption error. It is a listener's
// option: Dial refuses it.
func WithInsecureListen() ConnOption {
	return connOptionFunc(func(c *connConfig) error {
		c.insecure = true
		if c.listenOnly == "" {
			c.listenOnly = "WithInsecureListen"
		}
		return nil
	})
}

// WithHandshakeErrorFunc makes a Listener call f with the error of each connection that failed
// its handshake (an ErrAuthentication error naming the peer; it matches ErrProtocol too when
// the peer broke the framing, and context.DeadlineExceeded when it ran out of time), from the goroutine
// of that handshake. Without it, such connections are closed without a word, and Accept goes on
// with the next: one bad peer never ends a server's Accept loop. It is a listener's option: Dial
// refuses it.
func WithHandshakeErrorFunc(f func(error)) ConnOption {
	return connOptionFunc(func(c *connConfig) error {
		c.onReject = f
		if c.listenOnly == "" {
			c.listenOnly = "WithHandshakeErrorFunc"
		}
		return nil
	})
}

// newConnConfig applies opts for the caller named by what.
func newConnConfig(what string, listen bool, opts []ConnOption) (*connConfig, error) {
	cfg := &connConfig{limits: defaultConnLimits(), handshakeTimeout: DefaultHandshakeTimeout}
	for _, o := range opts {
		if o != nil {
			if err := o.applyConn(cfg); err != nil {
				return nil, err
			}
		}
	}
	if !listen && cfg.listenOnly != "" {
		return nil, fmt.Errorf("%w: %s: %s is an option of Listen, not of Dial", ErrInvalidOption, what, cfg.listenOnly)
	}
	dec, err := cfg.limits.decode.decMode()
	if err != nil {
		return nil, fmt.Errorf("%w: WithDecodeLimits: %v", ErrInvalidOption, err)
	}
	cfg.limits.dec = dec
	return cfg, nil
}

// StreamListener is what a Listener accepts streams from: Listen makes one of a socket, and
// package mpnet of a net.Listener (TLS included). Accept waits for the next stream; Close ends a
// waiting Accept with an error. Addr is the address listened on, as "ip:port" for TCP (it decides
// whether NewListener requires an auth key) or the path of a Unix socket.
type StreamListener interface {
	Accept() (Stream, error)
	Close() error
	Addr() string
}

// Listener accepts network connections: Python's multiprocessing.connection.Listener. Listen
// makes one on a socket; package mpnet's Listen and ListenTLS on a net.Listener, with names
// resolved and TLS. Connections are accepted as soon as they arrive, and each runs its auth key's
// handshake in a goroutine of its own, bounded by WithHandshakeTimeout, as net/http runs a TLS
// handshake: a silent or slow peer never holds up the others. Accept returns the next
// authenticated one. At most 128 accepted connections are held at once, in their handshake or
// waiting for Accept; more wait in the kernel's queue.
//
// A Listener is safe for concurrent use; Accept may be called from many goroutines. It is not a
// handle: it cannot be passed to another process (pass an mpnet listener to pre-fork). It costs a
// socket, and a goroutine while it is open.
type Listener struct {
	src  StreamListener
	cfg  *connConfig
	addr string

	ready chan *netConn   // authenticated, waiting for Accept
	slots chan struct{}   // one per connection held: in its handshake, or in ready
	done  chan struct{}   // closed by Close
	fail  chan struct{}   // closed when the accept loop stops on an error
	err   error           // why, once fail is closed
	wg    sync.WaitGroup  // the accept loop and the handshakes
	mu    sync.Mutex      // guards held
	held  map[Stream]bool // streams in their handshake: Close closes them
	once  sync.Once
}

// NewListener makes a Listener of src, with opts (see ConnOption), and starts accepting: package
// mpnet uses it. If src's Addr is a TCP address that is not loopback, opts must hold WithAuthKey
// or WithInsecureListen, or NewListener refuses it with an ErrInvalidOption error. On an error,
// src is closed.
func NewListener(src StreamListener, opts ...ConnOption) (*Listener, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: NewListener with a nil StreamListener", ErrInvalidOption)
	}
	cfg, err := newConnConfig("NewListener", true, opts)
	if err == nil {
		err = checkExposed(src.Addr(), cfg)
	}
	if err != nil {
		src.Close()
		return nil, err
	}
	l := &Listener{
		src: src, cfg: cfg, addr: src.Addr(),
		ready: make(chan *netConn, maxPendingConns),
		slots: make(chan struct{}, maxPendingConns),
		done:  make(chan struct{}),
		fail:  make(chan struct{}),
		held:  make(map[Stream]bool),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// checkExposed refuses a listener reachable from the network without an auth key, unless asked.
func checkExposed(addr string, cfg *connConfig) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().IsLoopback() || cfg.authKey != nil || cfg.insecure {
		return nil
	}
	return fmt.Errorf("%w: listening on %s, which is not a loopback address, without an auth key: give mp.WithAuthKey (and the same key to Dial), use TLS (mpnet.ListenTLS), or, on a network protected otherwise, mp.WithInsecureListen", ErrInvalidOption, addr)
}

// Addr returns the address l listens on: "ip:port" for TCP, with the port chosen when Listen was
// given port 0, or the path of a Unix socket.
func (l *Listener) Addr() string {
	if l == nil {
		return ""
	}
	return l.addr
}

// String describes l: "mp.Listener(127.0.0.1:40123)".
func (l *Listener) String() string {
	if l == nil || l.src == nil {
		return "mp.Listener(nil)"
	}
	select {
	case <-l.done:
		return "mp.Listener(" + l.addr + ", closed)"
	default:
	}
	return "mp.Listener(" + l.addr + ")"
}

// Close stops listening, and closes the connections accepted that Accept has not returned (a Unix
// socket's file is removed). An Accept waiting returns an ErrClosed error. Connections Accept
// returned stay open. Close is idempotent, and does nothing on a nil Listener.
func (l *Listener) Close() error {
	if l == nil || l.src == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.src.Close()
		l.mu.Lock()
		for s := range l.held {
			s.Close() // ends its handshake
		}
		l.mu.Unlock()
		l.wg.Wait()
		for {
			select {
			case c := <-l.ready:
				c.close()
				continue
			default:
			}
			break
		}
	})
	return err
}

// Accept waits for the next connection that has passed its handshake and returns it as a Conn of
// T: Python's Listener.accept. It fails with ctx's error if ctx ends first, with an ErrClosed
// error once l is closed, and with the error that stopped l from accepting (which is what
// Accept returns from then on). A connection that fails its handshake is not returned: see
// WithHandshakeErrorFunc. T must be a type whose values cross processes intact, as for Pipe.
//
// Accept is a function, not a method of Listener, so that one Listener can accept connections
// carrying different types of values (methods cannot have type parameters).
func Accept[T any](ctx context.Context, l *Listener) (*Conn[T], error) {
	if l == nil || l.src == nil {
		return nil, zeroUse("*mp.Listener", "mp.Listen")
	}
	if err := checkElemType[T]("Accept"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-l.done:
		return nil, fmt.Errorf("%w: Accept on a closed %v", ErrClosed, l)
	default:
	}
	select {
	case c := <-l.ready:
		<-l.slots
		return &Conn[T]{n: c}, nil
	case <-l.done:
		return nil, fmt.Errorf("%w: Accept on a closed %v", ErrClosed, l)
	case <-l.fail:
		select {
		case c := <-l.ready:
			<-l.slots
			return &Conn[T]{n: c}, nil
		default:
		}
		return nil, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acceptLoop accepts streams while there is room, and starts the handshake of each.
func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		s, err := l.src.Accept()
		if err != nil {
			<-l.slots
			select {
			case <-l.done:
				return
			default:
			}
			var t interface{ Temporary() bool }
			if errors.As(err, &t) && t.Temporary() {
				// Out of descriptors, say: wait a little, as net/http does, and try again.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-l.done:
					return
				}
			}
			l.err = fmt.Errorf("mp: %v stopped accepting: %w", l, err)
			close(l.fail)
			return
		}
		backoff = 0
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			s.Close()
			<-l.slots
			return
		default:
		}
		l.held[s] = true
		l.mu.Unlock()
		l.wg.Add(1)
		go l.serve(s)
	}
}

// serve runs the handshake of s, and hands it to Accept if it passes.
func (l *Listener) serve(s Stream) {
	defer l.wg.Done()
	n := newNetConn(s, "accepted on "+l.addr+peerOf(s), l.cfg.limits)
	err := n.handshake(context.Background(), l.cfg, true)
	l.mu.Lock()
	delete(l.held, s)
	l.mu.Unlock()
	if err != nil {
		n.close()
		<-l.slots
		select {
		case <-l.done:
			return // closed by Close: not the peer's failure
		default:
		}
		if l.cfg.onReject != nil {
			l.cfg.onReject(fmt.Errorf("%v: a connection%s: %w", l, peerOf(s), err))
		}
		return
	}
	l.ready <- n // never blocks: the connection holds a slot
}

// NewClientConn makes a Conn of T of s, a stream connected to a listener, running the client's
// side of the auth key's handshake if opts hold WithAuthKey (see ConnOption): package mpnet's
// Dial uses it. ctx bounds the handshake, as WithHandshakeTimeout does. On an error, s is closed.
func NewClientConn[T any](ctx context.Context, s Stream, opts ...ConnOption) (*Conn[T], error) {
	return newClientConn[T](ctx, s, "a stream", "NewClientConn", opts)
}

func newClientConn[T any](ctx context.Context, s Stream, desc, what string, opts []ConnOption) (*Conn[T], error) {
	if s == nil {
		return nil, fmt.Errorf("%w: %s with a nil Stream", ErrInvalidOption, what)
	}
	cfg, err := newConnConfig(what, false, opts)
	if err == nil {
		err = checkElemType[T](what)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	n := newNetConn(s, desc, cfg.limits)
	if err := n.handshake(ctx, cfg, false); err != nil {
		n.close()
		return nil, fmt.Errorf("%s to %s: %w", what, desc, err)
	}
	return &Conn[T]{n: n}, nil
}
