package mp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"runtime/debug"
	"sync"
)

// The server's side of custom managed types (manager_object.go). A custom object is an mobj
// whose cust holds the Go value. Its constructor and methods run outside the server's lock, each
// in a goroutine of its own (serveOne), so that a slow method holds up neither the other objects
// nor the other requests of its connection; the calls on one object are serialised by the
// object's own lock, in the order they were taken (Go's sync.Mutex is not FIFO under contention,
// but a caller's calls are in order, since each waits for its reply). Python's server, by
// contrast, runs each connection in a thread and calls methods with no lock at all: a mutable
// object there needs a lock of its own, here it needs none.
//
// Constructors get a *Manager of the manager process's own (selfManager): a connection from the
// manager to itself, through which they create the managed objects the value holds. The
// proxies they make are held by that connection, as any process's.

// Operations on custom objects (beside those of manager_wire.go and manager_sync_server.go).
const (
	managerOpObjNew  = 0x70 + iota // Name(type) Val(constructor's argument) → N object id
	managerOpObjCall               // Obj Name(method) Val(argument) → Val(result)
)

func objectOp(op byte) bool { return op == managerOpObjNew || op == managerOpObjCall }

// mcustom is a custom object's state: its value (a *T) and the lock its calls run under.
type mcustom struct {
	typ *mtype
	mu  sync.Mutex
	v   any
}

// selfManager returns the manager process's Manager of itself (see above), made on first use.
func (s *managerServer) selfManager() *Manager {
	s.selfOnce.Do(func() {
		s.self = &Manager{c: clientFor(s.addr, s.token), inServer: true}
	})
	return s.self
}

// connCtx is the ctx of c's calls: it ends when c does (or, in a test without one, never).
func (c *mconn) callCtx() context.Context {
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

// handleObject runs a custom object's operation, without the server's lock held, and returns its
// reply.
func (s *managerServer) handleObject(c *mconn, op byte, req *mreq) (rep *mrep) {
	rep = &mrep{}
	defer func() {
		if r := recover(); r != nil {
			*rep = mrep{Err: toWire(fmt.Errorf("mp: %s panicked in the manager: %v\n%s", req.Name, r, debug.Stack()))}
		}
	}()
	var err error
	if op == managerOpObjNew {
		err = s.objNew(c, req, rep)
	} else {
		err = s.objCall(c, req, rep)
	}
	if err != nil {
		*rep = mrep{Err: toWire(err)}
	}
	return rep
}

func (s *managerServer) objNew(c *mconn, req *mreq, rep *mrep) error {
	t := lookupManagedType(req.Name)
	if t == nil {
		return fmt.Errorf("%w: the manager knows no managed type %q (register it at package level with mp.RegisterManagedType, in the program that started the manager)", ErrNotRegistered, req.Name)
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return fmt.Errorf("%w: the manager is shutting down", ErrClosed)
	}
	v, err := t.create(c.callCtx(), s.selfManager(), req.Val)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.unlockFlush()
	if c.gone || s.closing { // the caller went away meanwhile: nobody holds the object
		go closeCustom(&mcustom{typ: t, v: v})
		return fmt.Errorf("%w: the connection or the manager closed while the object was made", ErrClosed)
	}
	s.nextID++
	s.objs[s.nextID] = &mobj{kind: t.kind, refs: 1, cust: &mcustom{typ: t, v: v}}
	c.held[s.nextID] = true
	rep.N = int64(s.nextID)
	return nil
}

func (s *managerServer) objCall(c *mconn, req *mreq, rep *mrep) error {
	s.mu.Lock()
	o, err := s.object(req.Obj)
	if err == nil && o.cust == nil {
		err = fmt.Errorf("%w: a method call on a managed %s, which is no object of a managed type", ErrProtocol, o.kind)
	}
	closing := s.closing
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if closing {
		return fmt.Errorf("%w: the manager is shutting down", ErrClosed)
	}
	cu := o.cust
	m, err := cu.typ.method(req.Name)
	if err != nil {
		return err
	}
	arg, err := m.decode(req.Val)
	if err != nil {
		return err
	}
	ctx := c.callCtx()
	if bytes.Contains(req.Val, managerRefPrefix) {
		// The argument holds proxies, now this process's: its connection takes hold of their
		// objects before the caller's reply lets the caller close its own (one round trip; the
		// holds go before the ping).
		self := s.selfManager()
		if _, err := self.c.call(ctx, managerOpPing, &mreq{}); err != nil {
			return err
		}
	}
	res, err := cu.run(ctx, m, arg)
	if err != nil {
		return err
	}
	if bytes.Contains(res, managerRefPrefix) {
		if err := s.attachResult(c, res); err != nil {
			return err
		}
	}
	rep.Val = res
	return nil
}

// attachResult makes c hold the objects of this manager that the proxies in res refer to: res is
// being sent to c, whose proxies decoded from it must find them alive.
func (s *managerServer) attachResult(c *mconn, res []byte) error {
	var v any
	if err := codecDec.Unmarshal(res, &v); err != nil {
		return fmt.Errorf("%w: a method's result: %v", ErrDecode, err)
	}
	var refs []proxyRef
	collectProxyRefs(v, &refs)
	s.mu.Lock()
	defer s.unlockFlush()
	if c.gone {
		return fmt.Errorf("%w: the connection closed during the call", ErrClosed)
	}
	for _, r := range refs {
		if subtle.ConstantTimeCompare(r.Token, s.token) != 1 {
			continue // another manager's: the receiver takes hold of it there, as of any proxy it decodes
		}
		if _, err := s.object(r.ID); err != nil {
			return err
		}
		s.hold(c, r.ID)
	}
	return nil
}

// run runs m on the object, under its lock; a panic in m is its error.
func (cu *mcustom) run(ctx context.Context, m *mmethod, arg any) (res []byte, err error) {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mp: the method %s.%s panicked in the manager: %v\n%s", cu.typ.name, m.name, r, debug.Stack())
		}
	}()
	return m.run(ctx, cu.v, arg)
}

// closeCustom runs a freed object's Close, if its type has one, once the calls running on it are
// done. It runs in a goroutine of its own, without the server's lock: Close may talk to the
// manager (close the proxies the object holds).
func closeCustom(cu *mcustom) {
	cu.mu.Lock()
	defer cu.mu.Unlock()
	defer func() { recover() }() // a panicking Close loses only itself
	switch v := cu.v.(type) {
	case interface{ Close() error }:
		v.Close()
	case interface{ Close() }:
		v.Close()
	}
}
