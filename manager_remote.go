package mp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Remote managers: Python's BaseManager(address, authkey).get_server().serve_forever() and
// BaseManager(address, authkey).connect().
//
// The program that started a manager serves it on a Listener (Manager.Serve): the Listener runs
// the auth key's handshake and TLS (mp.Listen, mpnet.Listen, mpnet.ListenTLS), and Serve relays
// each authenticated connection to the manager process over a connection of its own to the
// manager's local socket, opened with the manager's token and marked remote (the manager refuses
// Shutdown to it). The manager's token is the remote client's first message after the auth key's
// handshake (a client proved it has the key, or TLS and the listener allowed it in):
//
//	"mpmgr-remote\x00\x01" | the 32-byte token
//
// then the connection carries the manager's frames (manager_wire.go) both ways, unchanged.
//
// A remote client (ConnectManager) is this process's client of the manager, found by the token as
// a local one is: proxies it decodes (Lookup's, those stored in managed objects) reach the manager
// through it. Proxies it encodes name the address it connected to ("mp-remote:tcp 127.0.0.1:5000")
// and never an auth key: a process that decodes one must connect to that manager itself, with
// ConnectManager and the key, before it uses the proxy (its first call says so otherwise).

// remoteManagerPrefix starts the address, in a proxy, of a manager connected with ConnectManager.
const remoteManagerPrefix = "mp-remote:"

// managerRemoteWelcome opens Serve's first message to a remote client; the token follows.
const managerRemoteWelcome = "mpmgr-remote\x00\x01"

// relayBuffer is the size of the buffer a relayed connection copies through (manager_relay_*.go).
const relayBuffer = 16 << 10

func isRemoteManagerAddr(addr string) bool { return strings.HasPrefix(addr, remoteManagerPrefix) }

// remoteNotConnected is the error of a call through a proxy of a remote manager this process
// has not connected to.
func remoteNotConnected(addr string) error {
	a := strings.TrimPrefix(addr, remoteManagerPrefix)
	network, host, _ := strings.Cut(a, " ")
	return fmt.Errorf("%w: this process holds a proxy of the remote manager at %s, and has not connected to it: call mp.ConnectManager(ctx, %q, %q, mp.WithAuthKey(key)) (or mpnet.ConnectManagerTLS) in this process first (an auth key never travels inside a proxy)", ErrAuthentication, a, network, host)
}

// Proxy is a proxy of a managed object: *Dict, *List, *Namespace, *ManagedValue. Publish takes
// one, Lookup returns one.
type Proxy interface {
	base() *proxyBase
}

// Publish makes the object of proxy p findable under name, by Lookup, in every process that uses
// the manager — remote clients (ConnectManager) included: Python's
// BaseManager.register(typeid, callable=lambda: obj) for a shared object. A name published again
// names the new object. The manager holds a published object for as long as it serves, whatever
// becomes of the proxies. p must be a live proxy of m; an empty name is an ErrInvalidOption error.
func (m *Manager) Publish(ctx context.Context, name string, p Proxy) error {
	if err := m.check(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: Publish with an empty name", ErrInvalidOption)
	}
	if p == nil || p.base() == nil {
		return fmt.Errorf("%w: Publish of a nil proxy", ErrInvalidOption)
	}
	b := p.base()
	if err := b.check("proxy"); err != nil {
		return err
	}
	if !bytes.Equal(b.c.token, m.c.token) {
		return fmt.Errorf("%w: Publish of a proxy of another manager (%s) in %v", ErrInvalidOption, b.c.addr, m)
	}
	enc, err := b.marshal("proxy")
	if err != nil {
		return err
	}
	_, err = m.c.call(ctx, managerOpPublish, &mreq{Name: name, Val: enc})
	return err
}

// Lookup returns a new proxy of the object published under name in the manager m (see Publish):
// in a remote program, m is the Manager ConnectManager returned. P is the proxy's type, which
// must be the published object's: mp.Lookup[*mp.Dict[string, int]](ctx, m, "scores"). A name
// that nothing was published under is an error matching fs.ErrNotExist; an object of another
// kind, an ErrDecode error. Close the proxy when done, as any.
func Lookup[P Proxy](ctx context.Context, m *Manager, name string) (P, error) {
	var p P
	if err := m.check(); err != nil {
		return p, err
	}
	rep, err := m.c.call(ctx, managerOpLookup, &mreq{Name: name})
	if err != nil {
		return p, err
	}
	if err := decodeValue("the proxy published as "+name, rep.Val, &p); err != nil {
		return p, err
	}
	return p, nil
}

// publish publishes the object of the encoded proxy val under name; s.mu is held.
func (s *managerServer) publish(name string, val []byte) error {
	if name == "" {
		return fmt.Errorf("%w: Publish with an empty name", ErrInvalidOption)
	}
	if !bytes.HasPrefix(val, managerRefPrefix) {
		return fmt.Errorf("%w: Publish of a value that is not a proxy", ErrEncode)
	}
	e, err := s.newEntry(val)
	if err != nil {
		return err
	}
	if len(e.refs) != 1 {
		s.dropEntry(e)
		return fmt.Errorf("%w: Publish of a value holding %d proxies (one is published at a time)", ErrEncode, len(e.refs))
	}
	s.dropEntry(s.names[name])
	s.names[name] = e
	return nil
}

// Serve serves the manager to the clients that connect to ln — mp.ConnectManager in other
// programs, here or on other machines — until ctx ends, ln fails or the manager stops: Python's
// BaseManager.get_server().serve_forever(). ln does the authentication: make it with mp.Listen
// (and mp.WithAuthKey), or with package mpnet's Listen or ListenTLS; a Listener on an address
// that is not loopback with neither an auth key nor TLS is refused when it is made, unless
// mp.WithInsecureListen says so. A client reaches the objects published with Publish (Lookup),
// and those it creates; it cannot Shutdown the manager.
//
// Each connection is relayed by this process to the manager process: it costs two goroutines and
// two 16 KiB buffers here, and one goroutine and a connection in the manager (see
// TestManagerServeMany for the figure), and a call through it takes one more hop than a local
// one. When Serve returns, ln is closed and so is every connection it served: their clients'
// calls fail with ErrManagerDead. Serve returns ctx's error if ctx ended, an ErrClosed error if
// the manager was closed or shut down, ErrManagerDead if it died, or the error that stopped ln.
// Serve may be called on several Listeners at once (one call for each). Only the program that
// started the manager serves it: on a Manager from ConnectManager, Serve is an ErrInvalidOption
// error.
func (m *Manager) Serve(ctx context.Context, ln *Listener) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.proc == nil {
		return fmt.Errorf("%w: Serve on a manager connected with mp.ConnectManager (%v): only the program that started it serves it", ErrInvalidOption, m)
	}
	if ln == nil || ln.src == nil {
		return zeroUse("*mp.Listener", "mp.Listen")
	}
	defer ln.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.proc.Done():
			cancel()
		case <-sctx.Done():
		}
	}()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		open   = map[*managerRelay]bool{}
		ending bool
	)
	var err error
	for {
		var c *Conn[[]byte]
		c, err = Accept[[]byte](sctx, ln)
		if err != nil {
			break
		}
		r := &managerRelay{remote: c.n}
		mu.Lock()
		if ending {
			mu.Unlock()
			c.n.close()
			break
		}
		open[r] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(sctx, m.addr, m.c.token)
			mu.Lock()
			delete(open, r)
			mu.Unlock()
		}()
	}
	cancel()
	mu.Lock()
	ending = true
	for r := range open {
		r.close()
	}
	mu.Unlock()
	wg.Wait()
	select {
	case <-m.proc.Done():
		if m.check() != nil {
			return fmt.Errorf("%w: Serve: the manager was closed", ErrClosed)
		}
		return fmt.Errorf("%w: Serve: the manager process ended", ErrManagerDead)
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// managerRelay is one remote client's connection, relayed to the manager.
type managerRelay struct {
	remote *netConn
	mu     sync.Mutex
	local  io.Closer
	closed bool
}

func (r *managerRelay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.remote.close()
	if r.local != nil {
		r.local.Close()
	}
}

// run connects to the manager at addr as a remote client's relay, sends the remote client the
// welcome, and copies bytes both ways until either side ends; then it closes both.
func (r *managerRelay) run(ctx context.Context, addr string, token []byte) {
	defer r.close()
	f, err := managerDial(addr)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.local = f
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return
	}
	// The manager answers a hello at once: a few seconds bound it, and ctx.
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stop := context.AfterFunc(hctx, func() { f.SetDeadline(time.Unix(1, 0)) })
	_, err = f.Write(append([]byte(managerRemoteHelloMagic), token...))
	var welcome [len(managerWelcome)]byte
	if err == nil {
		_, err = io.ReadFull(f, welcome[:])
	}
	if !stop() || err != nil || string(welcome[:]) != managerWelcome {
		return
	}
	f.SetDeadline(time.Time{})
	n := r.remote
	if err := n.write(hctx, append([]byte(managerRemoteWelcome), token...)); err != nil {
		return
	}
	// What the remote client sent past its handshake is in n's read-ahead buffer: it goes first.
	n.rmu.Lock()
	early := append([]byte(nil), n.buf[n.r:n.w]...)
	n.r, n.w, n.buf = 0, 0, nil
	n.rmu.Unlock()
	if len(early) > 0 {
		if _, err := f.Write(early); err != nil {
			return
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		relayCopy(f, n.s)
		r.close()
	}()
	relayCopy(n.s, f)
	r.close()
	<-done
}

// onlyReader and onlyWriter hide ReadFrom and WriteTo, so that io.CopyBuffer uses its buffer.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

// NewManagerConn connects to a manager served (Manager.Serve) at the other end of s, a stream
// connected to its Listener, running the client's side of the auth key's handshake if opts hold
// WithAuthKey, and returns the Manager it reaches: package mpnet's ConnectManager and
// ConnectManagerTLS use it, as ConnectManager does. addr names the manager in proxies and errors,
// as "network address" ("tcp 127.0.0.1:5000"); a process that decodes a proxy obtained on this
// connection connects to addr itself (see ConnectManager). ctx bounds the handshake, as
// WithHandshakeTimeout does. On an error, s is closed.
func NewManagerConn(ctx context.Context, s Stream, addr string, opts ...ConnOption) (*Manager, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: NewManagerConn with a nil Stream", ErrInvalidOption)
	}
	cfg, err := newConnConfig("ConnectManager", false, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	n := newNetConn(s, addr, cfg.limits)
	if err := n.handshake(ctx, cfg, false); err != nil {
		n.close()
		return nil, fmt.Errorf("mp: ConnectManager to %s: %w", addr, err)
	}
	token, early, err := readRemoteWelcome(ctx, n, cfg)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("mp: ConnectManager to %s: %w", addr, err)
	}
	t := newSockTransport(s)
	t.buf = append(t.buf, early...)
	return &Manager{c: remoteClient(remoteManagerPrefix+addr, token, t), cleanup: func() {}}, nil
}

// readRemoteWelcome reads Serve's welcome within the handshake's time, and returns the token and
// what came after it.
func readRemoteWelcome(ctx context.Context, n *netConn, cfg *connConfig) (token, early []byte, err error) {
	hctx, cancel := context.WithTimeout(ctx, cfg.handshakeTimeout)
	defer cancel()
	n.rmu.Lock()
	defer n.rmu.Unlock()
	n.arm(hctx)
	defer n.disarm()
	b, err := n.next(hctx, maxHandshakeMessage)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, nil, ctx.Err()
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAuthentication)):
		return nil, nil, fmt.Errorf("%w: no welcome from the manager within %v (is it a manager's Listener?): %w", ErrAuthentication, cfg.handshakeTimeout, err)
	case err != nil:
		// The listener closed the connection: it refused this side (no TLS, say, or too slow).
		return nil, nil, fmt.Errorf("%w: no welcome from the manager: the listener closed the connection (does it want TLS, or an auth key? is it a manager's?): %w", ErrAuthentication, err)
	case bytes.HasPrefix(b, challengePrefix):
		return nil, nil, fmt.Errorf("%w: the manager's listener sent an authentication challenge: it has an auth key, and ConnectManager was given none (give it the same mp.WithAuthKey)", ErrAuthentication)
	case len(b) != len(managerRemoteWelcome)+managerTokenSize || !bytes.HasPrefix(b, []byte(managerRemoteWelcome)):
		return nil, nil, fmt.Errorf("%w: the listener's first message (%d bytes) is not a manager's welcome (is it served by Manager.Serve?)", ErrProtocol, len(b))
	}
	return b[len(managerRemoteWelcome):], append([]byte(nil), n.buf[n.r:n.w]...), nil
}

// remoteClient makes the client of a remote manager over t, and makes it this process's client
// of that manager if the process has none that works: a client made for proxies decoded before
// the connection (it waits for one) is given t; one whose connection failed is replaced.
func remoteClient(addr string, token []byte, t managerTransport) *managerClient {
	managerClients.Lock()
	defer managerClients.Unlock()
	if managerClients.m == nil {
		managerClients.m = map[string]*managerClient{}
	}
	if c := managerClients.m[string(token)]; c != nil {
		c.mu.Lock()
		waiting := c.t == nil && c.err == nil && isRemoteManagerAddr(c.addr)
		if waiting {
			c.addr, c.t = addr, t
		}
		failed := c.err != nil
		c.mu.Unlock()
		if waiting {
			return c
		}
		if !failed {
			return newManagerClient(addr, token, t) // this connection's own, for its Manager
		}
	}
	c := newManagerClient(addr, token, t)
	managerClients.m[string(token)] = c
	return c
}

func newManagerClient(addr string, token []byte, t managerTransport) *managerClient {
	return &managerClient{addr: addr, token: token, t: t, pending: map[uint64]chan managerResult{}, local: map[uint64]int{}, free: make(chan struct{}, 1)}
}
