package mp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The client side of a manager: one connection per manager per process, opened by the first
// call that needs it and shared by every proxy of that manager in the process. Calls from many
// goroutines are multiplexed on it by request id; a reply whose caller gave up is dropped.
//
// References: the server counts, per connection, the objects the connection holds. A process
// counts its live proxies of each object (local); when the count goes from 0 to 1 the
// connection takes hold of the object, when it goes back to 0 it lets go. A connection that
// ends — the process exited or was killed — lets go of everything it held.

// proxyTag marks an encoded proxy: CBOR tag 28017 around proxyRef.
const proxyTag = 0x6d71

// proxyRef is what a proxy is made of on the wire: where its manager listens, the manager's
// token, the kind of object and its id. It carries no descriptor, so it can go anywhere a value
// can, and a process that decodes one connects to the manager itself.
type proxyRef struct {
	_     struct{} `cbor:",toarray"`
	Addr  string
	Token []byte
	Kind  string
	ID    uint64
}

// collectProxyRefs finds the proxies in v, a value decoded into any.
func collectProxyRefs(v any, out *[]proxyRef) {
	switch x := v.(type) {
	case cbor.Tag:
		if x.Number == proxyTag {
			if a, ok := x.Content.([]any); ok && len(a) == 4 {
				addr, _ := a[0].(string)
				tok, _ := a[1].([]byte)
				kind, _ := a[2].(string)
				id, _ := a[3].(uint64)
				*out = append(*out, proxyRef{Addr: addr, Token: tok, Kind: kind, ID: id})
				return
			}
		}
		collectProxyRefs(x.Content, out)
	case []any:
		for _, e := range x {
			collectProxyRefs(e, out)
		}
	case map[any]any:
		for k, e := range x {
			collectProxyRefs(k, out)
			collectProxyRefs(e, out)
		}
	case map[string]any: // the codec's type for maps with text keys: structs, among others
		for _, e := range x {
			collectProxyRefs(e, out)
		}
	}
}

var managerClients struct {
	sync.Mutex
	m map[string]*managerClient
}

// clientFor returns this process's client of the manager with token, made on first use for
// addr. Clients are found by token, which names a manager, so that a proxy reaches its manager
// through the client this process has of it whatever the address it names: a remote client
// (ConnectManager) decodes proxies that name the manager's local address (manager_remote.go).
func clientFor(addr string, token []byte) *managerClient {
	key := string(token)
	managerClients.Lock()
	defer managerClients.Unlock()
	if c := managerClients.m[key]; c != nil {
		return c
	}
	if managerClients.m == nil {
		managerClients.m = map[string]*managerClient{}
	}
	c := &managerClient{addr: addr, token: token, pending: map[uint64]chan managerResult{}, local: map[uint64]int{}, free: make(chan struct{}, 1)}
	managerClients.m[key] = c
	return c
}

// forgetClient removes c from the registry (its manager was closed by this process).
func forgetClient(c *managerClient) {
	managerClients.Lock()
	defer managerClients.Unlock()
	if managerClients.m[string(c.token)] == c {
		delete(managerClients.m, string(c.token))
	}
}

type managerResult struct {
	rep mrep
	err error
}

// closeResult closes the descriptors of a reply nobody will take.
func closeResult(r managerResult) { closeFDs(r.rep.fds) }

type managerClient struct {
	addr  string
	token []byte

	mu      sync.Mutex
	t       managerTransport
	pending map[uint64]chan managerResult
	nextID  uint64
	err     error          // once set, every call fails with it
	local   map[uint64]int // live proxies of each object in this process
	holds   []uint64       // objects to take hold of before the next request
	reading bool           // a caller is reading replies (see call)
	free    chan struct{}  // a token: the reader stepped down, a waiter may take over
	// starting is set while StartManager's first call waits for the server to serve.
	starting bool

	// The local fast path (manager_table_client.go): the tables attached, by object id, and
	// the manager's death pipe, watched by one goroutine, which sets dead when it ends.
	tabs  map[uint64]*dictTable
	death *os.File
	dead  atomic.Bool // the manager is gone, or c.err is set: direct operations go by the socket, which says why
}

// deadError is the error of every call once the connection to the manager is lost.
func (c *managerClient) deadError(cause error) error {
	return fmt.Errorf("%w (%s): %v", ErrManagerDead, c.addr, cause)
}

// fail ends the connection: every pending and later call returns err.
func (c *managerClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
	c.dead.Store(true)
	if c.death != nil {
		c.death.Close() // ends the watcher
		c.death = nil
	}
	for id, ch := range c.pending {
		ch <- managerResult{err: c.err}
		delete(c.pending, id)
	}
	if c.t != nil {
		c.t.close()
	}
}

// connect opens the connection and says hello; c.mu is held. The welcome is awaited within
// ctx, and within 10 seconds at most (a live manager answers at once) unless c.starting.
func (c *managerClient) connect(ctx context.Context) error {
	if isRemoteManagerAddr(c.addr) {
		return remoteNotConnected(c.addr) // ConnectManager connects it (manager_remote.go)
	}
	f, err := managerDial(c.addr)
	if err != nil {
		if errors.Is(err, ErrNotSupported) {
			return err
		}
		return c.deadError(err)
	}
	if !c.starting { // StartManager waits for the initializer, within its ctx only
		f.SetDeadline(time.Now().Add(10 * time.Second))
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { f.SetDeadline(time.Unix(1, 0)); close(fired) })
	hello := append([]byte(managerHelloMagic), c.token...)
	_, err = f.Write(hello)
	var welcome [len(managerWelcome)]byte
	if err == nil {
		_, err = io.ReadFull(f, welcome[:])
	}
	if !stop() {
		<-fired
	}
	f.SetDeadline(time.Time{})
	if err == nil && string(welcome[:]) != managerWelcome {
		err = fmt.Errorf("%w: the manager at %s answered the hello with %q", ErrProtocol, c.addr, welcome[:])
	}
	if err != nil {
		f.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrProtocol) {
			return err
		}
		return c.deadError(fmt.Errorf("no welcome: %v (is the token right?)", err))
	}
	c.t = newClientTransport(f)
	return nil
}

// Replies are read by the callers themselves, not by a goroutine of the client's: one caller at
// a time is the reader; it reads frames, hands each reply to its caller, and returns when its own
// has come, letting another waiting caller take over. A caller alone — the common case — reads
// its reply directly, without a hand-off between goroutines. A reader whose ctx ends is
// interrupted (the transport keeps what it had read of a frame) and steps down.

// readUntil reads frames as the reader until the reply to id arrives, ctx ends or the connection
// fails.
func (c *managerClient) readUntil(ctx context.Context, t managerTransport, id uint64) (managerResult, bool) {
	if ctx.Done() != nil { // a ctx that can end interrupts the read when it does
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { t.interrupt(); close(fired) })
		defer func() {
			if !stop() {
				<-fired
				t.resume()
			}
		}()
	}
	for {
		fid, op, payload, err := t.recv()
		if err == errInterrupted {
			return managerResult{}, false
		}
		if err != nil {
			c.fail(c.deadError(err))
			return managerResult{err: c.errNow()}, true
		}
		if fid == 0 {
			if op == managerOpClosed {
				c.fail(fmt.Errorf("%w: the manager (%s) was shut down", ErrClosed, c.addr))
				return managerResult{err: c.errNow()}, true
			}
			continue
		}
		rep, derr := decodeMrep(payload)
		if op == managerOpAttach && derr == nil && rep.Err == nil && rep.N > 0 {
			if rep.fds, derr = t.takeFDs(int(rep.N)); derr != nil {
				c.fail(c.deadError(derr)) // the stream of descriptors is out of step
				return managerResult{err: c.errNow()}, true
			}
		}
		if fid == id {
			c.mu.Lock()
			delete(c.pending, id)
			c.mu.Unlock()
			return managerResult{rep: rep, err: derr}, true
		}
		// The hand-off is made under c.mu (ch has room: its caller's only sender is whoever takes
		// it out of pending, under c.mu), so that a caller that gives up — it takes its ch out of
		// pending, under c.mu, then looks in ch once — finds the reply there if it was handed
		// over, and otherwise it is dropped here: no reply, and none of the descriptors an
		// attach reply carries, is left in a channel nobody reads.
		c.mu.Lock()
		ch := c.pending[fid]
		delete(c.pending, fid)
		if ch != nil {
			if managerHandOffHook != nil {
				managerHandOffHook()
			}
			ch <- managerResult{rep: rep, err: derr}
		}
		c.mu.Unlock()
		if ch == nil { // its caller gave up: the late reply is dropped
			closeFDs(rep.fds)
		}
	}
}

// managerHandOffHook, nil but in a test, runs as the reader hands a reply over to its caller.
var managerHandOffHook func()

func (c *managerClient) errNow() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// call sends one request and waits for its reply, or for ctx to end (then the reply, if it
// comes, is dropped and the connection stays in step). An error of the server's is rebuilt with
// its identity (errors.Is, errors.As), as a task's is.
func (c *managerClient) call(ctx context.Context, op byte, req *mreq) (mrep, error) {
	rep, err := c.callFDs(ctx, op, req)
	closeFDs(rep.fds)
	rep.fds = nil
	return rep, err
}

// callFDs is call that returns the descriptors the reply carried (rep.fds), for the caller to
// close.
func (c *managerClient) callFDs(ctx context.Context, op byte, req *mreq) (mrep, error) {
	return c.roundTrip(ctx, op, req, false)
}

// callBlocking is call for a request that may wait in the server (a Lock, a Get of an empty
// queue): if ctx ends first, it sends a cancel for the request and waits for the server's
// answer, which comes at once: either the server withdrew the waiter (then callBlocking returns
// ctx's error, and nothing happened) or it had granted the request already (then it returns the
// grant, so that no value taken and no lock given is lost). That wait is bounded by the
// connection: a manager that dies ends it with ErrManagerDead.
func (c *managerClient) callBlocking(ctx context.Context, op byte, req *mreq) (mrep, error) {
	rep, err := c.roundTrip(ctx, op, req, true)
	closeFDs(rep.fds)
	rep.fds = nil
	return rep, err
}

// roundTrip is call, callFDs and callBlocking: the reply keeps the descriptors it carried.
func (c *managerClient) roundTrip(ctx context.Context, op byte, req *mreq, blocking bool) (mrep, error) {
	if err := ctx.Err(); err != nil {
		return mrep{}, err
	}
	b, err := encodeManagerMsg(req)
	if err != nil {
		return mrep{}, err
	}
	if len(b) > managerMaxFrame-9 {
		return mrep{}, fmt.Errorf("%w: a request of %d bytes to the manager (at most %d)", ErrTooLarge, len(b), managerMaxFrame-9)
	}
	c.mu.Lock()
	if c.err == nil && c.t == nil {
		if err := c.connect(ctx); err != nil {
			if (!errors.Is(err, ctx.Err()) || ctx.Err() == nil) && !isRemoteManagerAddr(c.addr) {
				c.err = err
			}
			c.mu.Unlock()
			return mrep{}, err
		}
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return mrep{}, err
	}
	t := c.t
	if len(c.holds) > 0 {
		hb, _ := encodeManagerMsg(&mreq{Objs: c.holds})
		t.send(0, managerOpHold, hb)
		c.holds = nil
	}
	c.nextID++
	id := c.nextID
	ch := make(chan managerResult, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	if err := t.send(id, op, b); err != nil {
		c.fail(c.deadError(err))
	}
	r, err := c.wait(ctx, t, id, ch, blocking)
	if err != nil && blocking {
		cb, _ := encodeManagerMsg(&mreq{Rev: id})
		t.send(0, managerOpCancel, cb)
		r, _ = c.wait(context.Background(), t, id, ch, true)
		if r.err == nil && r.rep.Err != nil && slices.Contains(r.rep.Err.Codes, "context.Canceled") {
			return mrep{}, err // withdrawn: ctx's error, and nothing happened
		}
	} else if err != nil {
		return mrep{}, err
	}
	if r.err != nil {
		closeResult(r)
		return mrep{}, r.err
	}
	if r.rep.Err != nil {
		closeResult(r)
		return mrep{}, fromWire("manager", 0, r.rep.Err)
	}
	return r.rep, nil
}

// wait waits for the reply to id: as the reader when no other caller is, else on ch. When ctx
// ends first, the reply will be dropped, unless keep (the caller waits on for it).
func (c *managerClient) wait(ctx context.Context, t managerTransport, id uint64, ch chan managerResult, keep bool) (managerResult, error) {
	for {
		select {
		case r := <-ch:
			c.passOn()
			return r, nil
		default:
		}
		c.mu.Lock()
		lead := !c.reading && c.err == nil
		if lead {
			c.reading = true
		}
		c.mu.Unlock()
		if lead {
			select {
			case r := <-ch:
				// The reader before us handed our reply over after we looked (above) and before
				// we took its place: reading now would wait for a frame already read.
				c.mu.Lock()
				c.reading = false
				c.mu.Unlock()
				c.passOn()
				return r, nil
			default:
			}
			r, ok := c.readUntil(ctx, t, id)
			c.mu.Lock()
			c.reading = false
			if !ok && ctx.Err() != nil && !keep {
				delete(c.pending, id)
			}
			c.mu.Unlock()
			select { // let a waiting caller take over
			case c.free <- struct{}{}:
			default:
			}
			if !ok && ctx.Err() == nil {
				continue // not our interruption: read on
			}
			if !ok {
				select {
				case r := <-ch: // it came just before the interruption
					return r, nil
				default:
				}
				return managerResult{}, ctx.Err()
			}
			return r, nil
		}
		select {
		case r := <-ch:
			c.passOn()
			return r, nil
		case <-c.free:
		case <-ctx.Done():
			if !keep {
				c.mu.Lock()
				delete(c.pending, id)
				c.mu.Unlock()
			}
			c.passOn()
			select {
			case r := <-ch:
				return r, nil
			default:
			}
			return managerResult{}, ctx.Err()
		}
	}
}

// passOn hands the reader's role on when a caller that may have taken the token (c.free) leaves
// without reading: otherwise a caller still waiting, with no one reading, would wait for ever.
func (c *managerClient) passOn() {
	c.mu.Lock()
	need := !c.reading && len(c.pending) > 0
	c.mu.Unlock()
	if need {
		select {
		case c.free <- struct{}{}:
		default:
		}
	}
}

// adopt counts a new proxy of id whose object the connection holds already (it created it).
func (c *managerClient) adopt(id uint64) {
	c.mu.Lock()
	c.local[id]++
	c.mu.Unlock()
}

// acquire counts a new proxy of id, decoded from a value; the connection takes hold of the
// object before its next request, if it does not hold it yet.
func (c *managerClient) acquire(id uint64) {
	c.mu.Lock()
	c.local[id]++
	if c.local[id] == 1 {
		c.holds = append(c.holds, id)
	}
	c.mu.Unlock()
}

// release uncounts a proxy of id; the last one lets go of the object.
func (c *managerClient) release(id uint64) {
	if t := c.releaseLocked(id); t != nil {
		t.close() // no proxy of it is left here: nor is its table (not under c.mu: Close waits for the operations on it)
	}
}

func (c *managerClient) releaseLocked(id uint64) *dictTable {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local[id]--; c.local[id] > 0 {
		return nil
	}
	delete(c.local, id)
	t := c.tabs[id]
	delete(c.tabs, id)
	for i, h := range c.holds {
		if h == id { // not asked for yet: no need to
			c.holds = append(c.holds[:i], c.holds[i+1:]...)
			break
		}
	}
	// Let go even of an object whose hold was not sent: a reply that carried the proxy made the
	// connection hold it already (the server's attach). A release of what the connection does
	// not hold does nothing.
	if c.t != nil && c.err == nil {
		b, _ := encodeManagerMsg(&mreq{Obj: id})
		c.t.send(0, managerOpRelease, b)
	}
	return t
}

// proxyBase is what every proxy is: a managed object of a kind, through this process's client.
type proxyBase struct {
	c      *managerClient
	id     uint64
	kind   string
	closed atomic.Bool
	tab    atomic.Pointer[dictTable] // the dict's table, once attached (manager_table_client.go)
	noTab  atomic.Bool               // the manager has none for it: the socket it is
}

// newProxyBase makes the proxy of object id that the connection created and holds.
func newProxyBase(c *managerClient, kind string, id uint64) *proxyBase {
	c.adopt(id)
	return &proxyBase{c: c, id: id, kind: kind}
}

// watch makes the garbage collector let go of p's object if owner is dropped without Close.
func watch[P any](owner *P, p *proxyBase) {
	runtime.AddCleanup(owner, func(p *proxyBase) { p.close() }, p)
}

func (p *proxyBase) close() {
	if p != nil && p.c != nil && p.closed.CompareAndSwap(false, true) {
		p.c.release(p.id)
	}
}

// check returns the error of a call through a nil, zero or closed proxy of type what.
func (p *proxyBase) check(what string) error {
	if p == nil || p.c == nil {
		return fmt.Errorf("%w: use of a nil or zero %s (make one with its New function)", ErrClosed, what)
	}
	if p.closed.Load() {
		return fmt.Errorf("%w: use of a %s after Close", ErrClosed, what)
	}
	return nil
}

func (p *proxyBase) call(ctx context.Context, what string, op byte, req *mreq) (mrep, error) {
	if err := p.check(what); err != nil {
		return mrep{}, err
	}
	req.Obj = p.id
	return p.c.call(ctx, op, req)
}

func (p *proxyBase) marshal(what string) ([]byte, error) {
	if err := p.check(what); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return codecEnc.Marshal(cbor.Tag{Number: proxyTag, Content: proxyRef{Addr: p.c.addr, Token: p.c.token, Kind: p.kind, ID: p.id}})
}

// unmarshalProxy rebuilds a proxy of kind from its encoding, counting it in this process.
func unmarshalProxy(what, kind string, data []byte) (*proxyBase, error) {
	var tag cbor.RawTag
	if err := codecDec.Unmarshal(data, &tag); err != nil || tag.Number != proxyTag {
		return nil, fmt.Errorf("%w: a %s: not an encoded proxy", ErrDecode, what)
	}
	var r proxyRef
	if err := codecDec.Unmarshal(tag.Content, &r); err != nil {
		return nil, fmt.Errorf("%w: a %s: %v", ErrDecode, what, err)
	}
	if len(r.Token) != managerTokenSize || r.Addr == "" || r.ID == 0 {
		return nil, fmt.Errorf("%w: a %s: malformed proxy", ErrDecode, what)
	}
	if r.Kind != kind {
		return nil, fmt.Errorf("%w: a managed %s arrived where the receiver has a %s", ErrDecode, r.Kind, what)
	}
	c := clientFor(r.Addr, r.Token)
	c.acquire(r.ID)
	return &proxyBase{c: c, id: r.ID, kind: kind}, nil
}

// String describes the proxy as what(id), or what(nil) or what(closed).
func (p *proxyBase) String(what string) string {
	switch {
	case p == nil || p.c == nil:
		return what + "(nil)"
	case p.closed.Load():
		return what + "(closed)"
	}
	return fmt.Sprintf("%s(%d)", what, p.id)
}

// managerEncode encodes a key or value for the manager: the fast codec's types by it
// (manager_fastcodec.go), other basic types straight through the codec, the rest with
// encodeValue's checks.
func managerEncode[T any](what string, v T) ([]byte, error) {
	if b, ok := appendBasic(nil, v); ok {
		return b, nil
	}
	switch any(v).(type) {
	case string, []byte, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float64:
		b, err := codecEnc.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrEncode, what, err)
		}
		return b, nil
	}
	return encodeValue(what, v)
}

// managerDecode decodes a key or value from the manager into *v: basic types straight through
// the codec (its limits apply), the rest with decodeValue's budget.
func managerDecode[T any](what string, b []byte, v *T) error {
	if decodeBasic(b, v) {
		return nil
	}
	switch any(v).(type) {
	case *string, *bool, *int, *int8, *int16, *int32, *int64, *uint, *uint8, *uint16, *uint32, *uint64, *float64:
		if err := codecDec.Unmarshal(b, v); err != nil {
			return decodeError(what, reflect.TypeFor[T](), err)
		}
		return nil
	}
	return decodeValue(what, b, v)
}
