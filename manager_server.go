package mp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/shmtable"
)

// The manager's server: the objects, their references, and one goroutine per connection, which
// handles that connection's requests in order. Every operation runs under one lock, so each is
// atomic with respect to every other (Update runs its function under it too).

// managerKinds is the registry of the kinds of object a manager holds: what Create accepts, and
// whether the object is a list (ordered entries) or a map of entries by key. Managed queues and
// locks will be kinds of their own.
var managerKinds = map[string]struct{ list, sync bool }{
	"dict":      {},
	"namespace": {},
	"value":     {},
	"list":      {list: true},
	// The synchronisation objects (manager_sync_server.go).
	queueKind:     {sync: true},
	jqueueKind:    {sync: true},
	mutexKind:     {sync: true},
	semaphoreKind: {sync: true},
	eventKind:     {sync: true},
	condKind:      {sync: true},
	barrierKind:   {sync: true},
}

// mentry is one stored value: its encoding, its revision, and the objects it refers to (the
// managed objects stored inside it, which it keeps alive).
type mentry struct {
	val  []byte
	rev  uint64
	refs []uint64
}

// mobj is one managed object. refs counts the connections that hold it and the entries that
// refer to it; at zero it is freed, and the objects its entries referred to lose a reference.
type mobj struct {
	kind string
	refs int
	dict map[string]*mentry
	list []*mentry
	syn  *msync   // a synchronisation object's state (manager_sync_server.go)
	cust *mcustom // a custom object's value (manager_object_server.go)
	// A dict in shared memory (manager_table.go): its table, and the references of the entries
	// that hold proxies, by key. dict is nil then.
	tab   *shmtable.Table
	trefs map[string][]uint64
}

type mconn struct {
	t    *sockTransport
	held map[uint64]bool // under the server's lock
	busy sync.Mutex      // held from a request's arrival to its reply's sending
	sy   msyncConn       // its waiters and what it holds of synchronisation objects
	// remote: a connection Manager.Serve relays from a remote client (manager_remote.go).
	remote bool
	// The calls of custom objects' methods (manager_object_server.go): their ctx, which ends
	// with the connection, the ones running, and gone, set (under the server's lock) once the
	// connection has ended and let go of what it held.
	ctx     context.Context
	cancel  context.CancelFunc
	calls   sync.WaitGroup
	running atomic.Int64 // the calls running, at most managerMaxWaiting
	gone    bool
}

type managerServer struct {
	token []byte
	addr  string

	mu           sync.Mutex
	objs         map[uint64]*mobj
	nextID       uint64
	rev          uint64
	conns        map[*mconn]bool
	names        map[string]*mentry // published objects (manager_remote.go)
	closing      bool
	done         chan struct{} // closed by the shutdown request
	shutdownOnce sync.Once
	wg           sync.WaitGroup
	out          []moutTo // replies to waiters, sent by unlockFlush

	// ops counts the requests served (but Stats and pings), and the operations clients ran on
	// the tables of dicts since freed; the live tables count their own (ManagerStats.Ops).
	ops atomic.Uint64

	tableMax int64   // each dict table's size limit (0: shmtable's default)
	death    *[2]int // the death pipe (manager_table.go), nil where dicts have no tables

	selfOnce sync.Once
	self     *Manager // the manager's own connection to itself (manager_object_server.go)
}

func newManagerServer(token []byte, addr string, tableMax int64) *managerServer {
	s := &managerServer{token: token, addr: addr, objs: map[uint64]*mobj{}, conns: map[*mconn]bool{}, names: map[string]*mentry{}, done: make(chan struct{}), tableMax: tableMax}
	if shmtable.Supported {
		s.death, _ = newDeathPipe() // without one, dicts are maps: every client uses the socket
	}
	return s
}

// serve accepts connections on ln until ctx ends or a shutdown request; then it tells every
// connection that the manager is closing, and returns once their goroutines have ended.
func (s *managerServer) serve(ctx context.Context, ln *os.File) {
	go func() {
		for {
			f, err := managerAccept(ln)
			if err != nil {
				var refused errPeerRefused
				switch {
				case errors.As(err, &refused):
				case errors.Is(err, os.ErrClosed):
					return // shutting down
				default: // out of descriptors, say: the connection waits in the backlog
					time.Sleep(10 * time.Millisecond)
				}
				continue
			}
			s.wg.Add(1)
			go s.handleConn(f)
		}
	}()
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	ln.Close()
	s.mu.Lock()
	s.closing = true
	conns := make([]*mconn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		// A client that reads nothing must not hold the shutdown up: a second at most.
		c.t.f.SetWriteDeadline(time.Now().Add(time.Second))
	}
	for _, c := range conns {
		c.calls.Wait() // the methods running complete (new ones are refused: closing)
	}
	for _, c := range conns {
		c.busy.Lock() // the reply being sent goes first: the calls in flight complete
		c.t.send(0, managerOpClosed, nil)
		c.t.close()
		c.busy.Unlock()
	}
	s.wg.Wait()
}

// handshake reads the hello within a few seconds: exactly managerHelloSize bytes, no more, so
// that a peer that has not proved it knows the token can make the manager hold nothing more.
// remote reports a hello of managerRemoteHelloMagic: a client Manager.Serve relays.
func (s *managerServer) handshake(f *os.File) (ok, remote bool) {
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hello [managerHelloSize]byte
	if _, err := io.ReadFull(f, hello[:]); err != nil {
		return false, false
	}
	magic := string(hello[:len(managerHelloMagic)])
	if magic != managerHelloMagic && magic != managerRemoteHelloMagic ||
		subtle.ConstantTimeCompare(hello[len(managerHelloMagic):], s.token) != 1 {
		return false, false
	}
	f.SetReadDeadline(time.Time{})
	_, err := f.Write([]byte(managerWelcome))
	return err == nil, magic == managerRemoteHelloMagic
}

func (s *managerServer) handleConn(f *os.File) {
	defer s.wg.Done()
	ok, remote := s.handshake(f)
	if !ok {
		f.Close()
		return
	}
	c := &mconn{t: newSockTransport(f), held: map[uint64]bool{}, remote: remote}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.t.send(0, managerOpClosed, nil)
		f.Close()
		return
	}
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		c.gone = true
		s.syncConnGone(c)
		for id := range c.held {
			s.decref(id)
		}
		c.held = nil
		s.unlockFlush()
		f.Close()
	}()
	for {
		id, op, payload, err := c.t.recv()
		if err != nil {
			return // the client is gone (or broke the protocol): its references go
		}
		if !s.serveOne(c, id, op, payload) {
			return
		}
	}
}

// serveOne handles one request and sends its reply; false ends the connection.
func (s *managerServer) serveOne(c *mconn, id uint64, op byte, payload []byte) bool {
	c.busy.Lock()
	defer c.busy.Unlock()
	req, err := decodeMreq(payload)
	if err != nil {
		return false
	}
	c.sy.cur = id
	if op != managerOpStats && op != managerOpPing {
		s.ops.Add(1)
	}
	if objectOp(op) { // runs on its own, replies when done (manager_object_server.go)
		if c.running.Add(1) > managerMaxWaiting {
			c.running.Add(-1)
			return s.sendReply(c, id, op, &mrep{Err: toWire(fmt.Errorf("%w: %d method calls of this process are running in the manager already, the most it runs for one connection; this one was refused, not queued: make fewer at once", ErrTooLarge, managerMaxWaiting))})
		}
		c.calls.Add(1)
		go func() {
			defer c.calls.Done()
			defer c.running.Add(-1)
			// A failed send: the connection is ending, which handleConn sees.
			s.sendReply(c, id, op, s.handleObject(c, op, &req))
		}()
		return true
	}
	rep := s.handle(c, op, &req)
	if rep == nil { // a waiter, answered later (unlockFlush)
		return true
	}
	if !s.sendReply(c, id, op, rep) {
		return false
	}
	if op == managerOpShutdown && rep.Err == nil {
		s.shutdownOnce.Do(func() { close(s.done) })
	}
	return true
}

// sendReply sends rep, the reply to request id (none for id 0), and closes its descriptors; false:
// the connection is ending.
func (s *managerServer) sendReply(c *mconn, id uint64, op byte, rep *mrep) bool {
	defer closeFDs(rep.fds)
	if id == 0 {
		return true
	}
	b, err := encodeManagerMsg(rep)
	if err != nil {
		b, _ = encodeManagerMsg(&mrep{Err: toWire(err)})
		rep.fds = nil
	}
	return c.t.sendFDs(id, op, b, rep.fds) == nil
}

// handle runs one request under the lock and returns its reply.
func (s *managerServer) handle(c *mconn, op byte, req *mreq) *mrep {
	if objectOp(op) {
		return s.handleObject(c, op, req)
	}
	if tableOp(op) {
		s.mu.Lock()
		o := s.objs[req.Obj]
		s.mu.Unlock()
		if o != nil && o.tab != nil {
			return s.handleTable(c, o, op, req)
		}
	}
	s.mu.Lock()
	defer s.unlockFlush()
	rep := &mrep{}
	var err error
	if s.closing {
		err = fmt.Errorf("%w: the manager is shutting down", ErrClosed)
	} else {
		err = s.do(c, op, req, rep)
	}
	if err == errDeferred {
		return nil
	}
	if err != nil {
		*rep = mrep{Err: toWire(err)}
	}
	return rep
}

func (s *managerServer) do(c *mconn, op byte, req *mreq, rep *mrep) error {
	switch op {
	case managerOpPing:
		return nil
	case managerOpStats:
		rep.N, rep.Rev = int64(len(s.objs)), uint64(len(s.conns))
		ops := s.ops.Load()
		for _, o := range s.objs {
			if o.tab != nil {
				ops += o.tab.Ops()
			}
		}
		rep.Revs = []uint64{ops}
		return nil
	case managerOpShutdown:
		if c.remote {
			return fmt.Errorf("%w: Shutdown of a manager from a remote client: only the program that started it (mp.StartManager) shuts it down", ErrInvalidOption)
		}
		return nil // handleConn ends the serving once the reply is sent
	case managerOpPublish:
		return s.publish(req.Name, req.Val)
	case managerOpLookup:
		e := s.names[req.Name]
		if e == nil {
			return fmt.Errorf("mp: no object is published under the name %q in the manager (the serving program publishes one with Manager.Publish): %w", req.Name, fs.ErrNotExist)
		}
		s.attach(c, e)
		rep.Val = e.val
		return nil
	case managerOpCreate:
		k, ok := managerKinds[req.Name]
		if !ok {
			return fmt.Errorf("%w: a manager holds no object of kind %q", ErrProtocol, req.Name)
		}
		o := &mobj{kind: req.Name, refs: 1}
		switch {
		case k.sync:
			y, err := s.createSync(req.Name, req)
			if err != nil {
				return err
			}
			o.syn = y
		case req.Name == dictKind:
			if o.tab = s.newDictTable(); o.tab != nil {
				o.trefs = map[string][]uint64{}
			} else {
				o.dict = map[string]*mentry{}
			}
		case !k.list:
			o.dict = map[string]*mentry{}
		}
		s.nextID++
		s.objs[s.nextID] = o
		c.held[s.nextID] = true
		rep.N = int64(s.nextID)
		return nil
	case managerOpRelease:
		if c.held[req.Obj] {
			delete(c.held, req.Obj)
			s.decref(req.Obj)
		}
		return nil
	case managerOpHold:
		for _, id := range req.Objs {
			s.hold(c, id)
		}
		return nil
	case managerOpCancel:
		s.cancelWait(c, req.Rev)
		return nil
	case managerOpAttach:
		return s.attachTable(c, req, rep)
	}
	o, err := s.object(req.Obj)
	if err != nil {
		return err
	}
	if o.syn != nil {
		return s.doSync(c, o, op, req, rep)
	}
	if o.dict != nil {
		return s.runDict(c, mapStore{s: s, m: o.dict}, op, req, rep)
	}
	if o.tab != nil { // freed and made again between handle's two looks: not possible, ids are not reused
		return fmt.Errorf("%w: operation %d on a managed dict", ErrProtocol, op)
	}
	return s.doList(c, o, op, req, rep)
}

func (s *managerServer) object(id uint64) (*mobj, error) {
	o := s.objs[id]
	if o == nil {
		return nil, fmt.Errorf("%w: managed object %d no longer exists (every proxy to it was closed, and nothing stored it)", ErrClosed, id)
	}
	return o, nil
}

// hold makes c hold object id, if it still exists.
func (s *managerServer) hold(c *mconn, id uint64) {
	if o := s.objs[id]; o != nil && !c.held[id] {
		c.held[id] = true
		o.refs++
	}
}

// attach makes c hold the objects e refers to: e's value is being sent to c, whose proxies
// decoded from it must find them alive.
func (s *managerServer) attach(c *mconn, e *mentry) {
	for _, id := range e.refs {
		s.hold(c, id)
	}
}

// decref drops one reference to id, freeing what no longer has any.
func (s *managerServer) decref(id uint64) {
	stack := []uint64{id}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		o := s.objs[id]
		if o == nil {
			continue
		}
		if o.refs--; o.refs > 0 {
			continue
		}
		delete(s.objs, id)
		if o.syn != nil {
			stack = append(stack, s.syncFree(o.syn)...)
		}
		if o.cust != nil {
			go closeCustom(o.cust)
		}
		for _, e := range o.dict {
			stack = append(stack, e.refs...)
		}
		for _, refs := range o.trefs {
			stack = append(stack, refs...)
		}
		if o.tab != nil {
			s.ops.Add(o.tab.Ops()) // the table's count outlives it
		}
		freeTable(o.tab)
		for _, e := range o.list {
			stack = append(stack, e.refs...)
		}
	}
}

// dropEntry lets go of what e referred to.
func (s *managerServer) dropEntry(e *mentry) {
	if e == nil {
		return
	}
	for _, id := range e.refs {
		s.decref(id)
	}
}

// managerRefPrefix starts the encoding of a proxy (proxyTag): a value without it holds none.
var managerRefPrefix = []byte{0xd9, 0x6d, 0x71}

// newEntry makes the entry for val, taking a reference to every managed object stored in it.
// A proxy of another manager cannot be stored in this one, nor one whose object is gone.
func (s *managerServer) newEntry(val []byte) (*mentry, error) {
	s.rev++
	e := &mentry{val: val, rev: s.rev}
	if !bytes.Contains(val, managerRefPrefix) {
		return e, nil
	}
	var v any
	if err := codecDec.Unmarshal(val, &v); err != nil {
		return nil, fmt.Errorf("%w: a value for the manager: %v", ErrDecode, err)
	}
	var refs []proxyRef
	collectProxyRefs(v, &refs)
	for _, r := range refs {
		if subtle.ConstantTimeCompare(r.Token, s.token) != 1 {
			return nil, fmt.Errorf("%w: a proxy of another manager (%s) cannot be stored in this one (%s)", ErrEncode, r.Addr, s.addr)
		}
		if _, err := s.object(r.ID); err != nil {
			return nil, err
		}
	}
	for _, r := range refs {
		s.objs[r.ID].refs++
		e.refs = append(e.refs, r.ID)
	}
	return e, nil
}

func (s *managerServer) doList(c *mconn, o *mobj, op byte, req *mreq, rep *mrep) error {
	index := func() (int, error) {
		if req.N < 0 || req.N >= int64(len(o.list)) {
			return 0, fmt.Errorf("%w: index %d of a managed list of length %d", ErrOutOfRange, req.N, len(o.list))
		}
		return int(req.N), nil
	}
	switch op {
	case managerOpAppend:
		entries := make([]*mentry, len(req.Vals))
		for i, v := range req.Vals {
			e, err := s.newEntry(v)
			if err != nil {
				for _, e := range entries[:i] {
					s.dropEntry(e)
				}
				return err
			}
			entries[i] = e
		}
		o.list = append(o.list, entries...)
		rep.N = int64(len(o.list))
	case managerOpIndex:
		i, err := index()
		if err != nil {
			return err
		}
		s.attach(c, o.list[i])
		rep.Val, rep.Rev = o.list[i].val, o.list[i].rev
	case managerOpSetIndex:
		i, err := index()
		if err != nil {
			return err
		}
		e, err := s.newEntry(req.Val)
		if err != nil {
			return err
		}
		s.dropEntry(o.list[i])
		o.list[i] = e
		rep.Rev = e.rev
	case managerOpPop:
		if len(o.list) == 0 {
			return fmt.Errorf("%w: Pop from an empty managed list", ErrOutOfRange)
		}
		e := o.list[len(o.list)-1]
		o.list[len(o.list)-1] = nil
		o.list = o.list[:len(o.list)-1]
		s.attach(c, e)
		s.dropEntry(e)
		rep.Val = e.val
	case managerOpLen:
		rep.N = int64(len(o.list))
	case managerOpSlice:
		rep.Vals = make([][]byte, len(o.list))
		for i, e := range o.list {
			s.attach(c, e)
			rep.Vals[i] = e.val
		}
	case managerOpClear:
		for _, e := range o.list {
			s.dropEntry(e)
		}
		o.list = nil
	default:
		return fmt.Errorf("%w: operation %d on a managed %s", ErrProtocol, op, o.kind)
	}
	return nil
}

// addNumbers returns the encoding of cur+delta (cur nil: 0), numbers of the kind ("int",
// "uint", "float") and bit size the client's type has, wrapping as Go's arithmetic does.
func addNumbers(cur, delta []byte, kind string, bits int) ([]byte, error) {
	switch kind {
	case "int":
		var a, d int64
		if err := decodeNumbers(cur, delta, &a, &d); err != nil {
			return nil, err
		}
		r := a + d
		if bits == 32 {
			r = int64(int32(r))
		}
		return codecEnc.Marshal(r)
	case "uint":
		var a, d uint64
		if err := decodeNumbers(cur, delta, &a, &d); err != nil {
			return nil, err
		}
		r := a + d
		if bits == 32 {
			r = uint64(uint32(r))
		}
		return codecEnc.Marshal(r)
	case "float":
		var a, d float64
		if err := decodeNumbers(cur, delta, &a, &d); err != nil {
			return nil, err
		}
		r := a + d
		if bits == 32 {
			return codecEnc.Marshal(float32(r))
		}
		return codecEnc.Marshal(r)
	}
	return nil, fmt.Errorf("%w: Add of numbers of kind %q", ErrProtocol, kind)
}

func decodeNumbers[T any](cur, delta []byte, a, d *T) error {
	if cur != nil {
		if err := decodeValue("the value Add adds to", cur, a); err != nil {
			return err
		}
	}
	return decodeValue("the delta of Add", delta, d)
}

// applyUpdate runs an update function; a panic in it is its error, and the manager serves on.
func applyUpdate(uf updater, name string, cur []byte, ok bool, arg []byte) (val []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mp: update function %s panicked: %v\n%s", name, r, debug.Stack())
		}
	}()
	return uf.apply(context.Background(), cur, ok, arg)
}
