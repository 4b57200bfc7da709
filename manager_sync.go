package mp

import (
	"context"
	"fmt"
)

// Managed synchronisation objects: Python's SyncManager Queue(), JoinableQueue(), Lock(),
// Semaphore(), BoundedSemaphore(), Event(), Condition() and Barrier(), held by a Manager and
// used through proxies. They are what a remote process (which shares no memory with the others)
// synchronises with; on one machine, the local objects (NewQueue, NewMutex, ...) are much
// faster. The methods are the local counterparts', with ctx first on every one, since every
// call is a round trip to the manager.
//
// A call that waits (Lock, Acquire, a Get of an empty queue, a Put to a full one, Wait, Join)
// waits in the manager, not in the connection: the process's other calls go on meanwhile. When
// its ctx ends, the call is withdrawn in the manager and returns ctx's error, having done
// nothing; if the manager had granted it in the meantime, the call returns what it was granted
// (the lock, the value) with a nil error instead, so that nothing is lost. If the manager dies,
// a waiting call returns an error matching ErrManagerDead at once.
//
// Locks and permits are held by processes: when a process dies (or its connection ends) holding
// a managed Mutex, or permits of a managed Semaphore, they are released, and the next taker is
// told with an error matching ErrOwnerDead (having taken them), as a local Mutex's is.
//
// Every proxy is safe for concurrent use, may be passed to other processes as a Dict may (in
// task arguments, over a Conn, on a Queue, stored in a managed object), and is closed with Close
// (or let go of by the garbage collector). A nil, zero or closed one returns errors wrapping
// ErrClosed.

func (m *Manager) createSync(ctx context.Context, kind string, req *mreq) (*proxyBase, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	req.Name = kind
	rep, err := m.c.call(ctx, managerOpCreate, req)
	if err != nil {
		return nil, err
	}
	return newProxyBase(m.c, kind, uint64(rep.N)), nil
}

func (p *proxyBase) callBlocking(ctx context.Context, what string, op byte, req *mreq) (mrep, error) {
	if err := p.check(what); err != nil {
		return mrep{}, err
	}
	req.Obj = p.id
	return p.c.callBlocking(ctx, op, req)
}

// ManagedMutex is a mutual exclusion lock held by a Manager: Python's Manager().Lock(), made
// robust (see the managed objects above: a holder that dies releases it, and the next Lock gets
// ErrOwnerDead). The lock is held by a process, not a goroutine: any goroutine of any process
// may unlock it, as with sync.Mutex. Cost: a round trip to the manager per call (see
// BenchmarkManagedMutex).
type ManagedMutex struct{ p *proxyBase }

// NewManagedMutex creates an unlocked ManagedMutex in the manager m.
func NewManagedMutex(ctx context.Context, m *Manager) (*ManagedMutex, error) {
	p, err := m.createSync(ctx, mutexKind, &mreq{})
	if err != nil {
		return nil, err
	}
	mu := &ManagedMutex{p: p}
	watch(mu, p)
	return mu, nil
}

func (mu *ManagedMutex) base() *proxyBase {
	if mu == nil {
		return nil
	}
	return mu.p
}

const managedMutexName = "mp.ManagedMutex"

// Lock locks mu, waiting until it is free or ctx ends. It returns an error matching ErrOwnerDead,
// with mu locked, when the process that held it died holding it. When ctx ends first, mu is
// left as it was and Lock returns ctx's error (unless the manager had given it the lock just
// then: then Lock returns nil, holding it).
func (mu *ManagedMutex) Lock(ctx context.Context) error {
	_, err := mu.base().callBlocking(ctx, managedMutexName, managerOpLock, &mreq{})
	return err
}

// TryLock locks mu if it is free (or its holder died, which it reports with ErrOwnerDead), and
// reports whether it did.
func (mu *ManagedMutex) TryLock(ctx context.Context) (bool, error) {
	rep, err := mu.base().call(ctx, managedMutexName, managerOpLock, &mreq{N: 1})
	return rep.OK, err
}

// Unlock unlocks mu, giving it to the first process waiting in Lock. Unlocking a mutex that is
// not locked is an error matching ErrNotHeld.
func (mu *ManagedMutex) Unlock(ctx context.Context) error {
	_, err := mu.base().call(ctx, managedMutexName, managerOpUnlock, &mreq{})
	return err
}

// Locked reports whether mu is locked (by any process) at this moment.
func (mu *ManagedMutex) Locked(ctx context.Context) (bool, error) {
	rep, err := mu.base().call(ctx, managedMutexName, managerOpLocked, &mreq{})
	return rep.OK, err
}

// Close lets go of this proxy's reference (see Manager); a lock this process holds stays held
// until it is unlocked or the process exits. Close is idempotent and does nothing on a nil
// ManagedMutex.
func (mu *ManagedMutex) Close() error { mu.base().close(); return nil }

// String describes the proxy: "mp.ManagedMutex(7)", with the object's id.
func (mu *ManagedMutex) String() string { return mu.base().String(managedMutexName) }

// MarshalCBOR encodes the proxy, for another process (see Dict.MarshalCBOR).
func (mu *ManagedMutex) MarshalCBOR() ([]byte, error) { return mu.base().marshal(managedMutexName) }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (mu *ManagedMutex) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy(managedMutexName, mutexKind, b)
	if err != nil {
		return err
	}
	mu.p = p
	watch(mu, p)
	return nil
}

// ManagedSemaphore is a counting semaphore held by a Manager: Python's Manager().Semaphore()
// and BoundedSemaphore(). Permits are held by processes: a process that dies holding some gives
// them back, and the next Acquire to succeed reports it with ErrOwnerDead (having its permits).
// Waiters are served in order: a big Acquire waiting holds up smaller ones behind it.
type ManagedSemaphore struct{ p *proxyBase }

const managedSemName = "mp.ManagedSemaphore"

// NewManagedSemaphore creates a ManagedSemaphore with n permits in the manager m. A negative n
// is an ErrInvalidOption.
func NewManagedSemaphore(ctx context.Context, m *Manager, n int) (*ManagedSemaphore, error) {
	return newManagedSemaphore(ctx, m, n, false)
}

// NewManagedBoundedSemaphore is NewManagedSemaphore for a semaphore that refuses (ErrNotHeld) a
// Release that would make it hold more than n permits.
func NewManagedBoundedSemaphore(ctx context.Context, m *Manager, n int) (*ManagedSemaphore, error) {
	return newManagedSemaphore(ctx, m, n, true)
}

func newManagedSemaphore(ctx context.Context, m *Manager, n int, bounded bool) (*ManagedSemaphore, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: a managed semaphore of %d permits", ErrInvalidOption, n)
	}
	req := &mreq{N: int64(n)}
	if bounded {
		req.Rev = 1
	}
	p, err := m.createSync(ctx, semaphoreKind, req)
	if err != nil {
		return nil, err
	}
	s := &ManagedSemaphore{p: p}
	watch(s, p)
	return s, nil
}

func (s *ManagedSemaphore) base() *proxyBase {
	if s == nil {
		return nil
	}
	return s.p
}

// Acquire takes n permits, waiting until there are enough or ctx ends. When ctx ends first, it
// takes none and returns ctx's error (unless the manager had just granted them: then it returns
// nil, holding them). A negative n is an ErrInvalidOption.
func (s *ManagedSemaphore) Acquire(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: Acquire of %d permits", ErrInvalidOption, n)
	}
	_, err := s.base().callBlocking(ctx, managedSemName, managerOpAcquire, &mreq{N: int64(n)})
	return err
}

// TryAcquire takes n permits if there are enough now (and no one waits before it), and reports
// whether it did. A negative n is an ErrInvalidOption.
func (s *ManagedSemaphore) TryAcquire(ctx context.Context, n int) (bool, error) {
	if n < 0 {
		return false, fmt.Errorf("%w: TryAcquire of %d permits", ErrInvalidOption, n)
	}
	rep, err := s.base().call(ctx, managedSemName, managerOpAcquire, &mreq{N: int64(n), Rev: 1})
	return rep.OK, err
}

// Release returns n permits (any process may release them). A negative n is an
// ErrInvalidOption; a bounded semaphore refuses, with ErrNotHeld, to hold more than its initial
// count.
func (s *ManagedSemaphore) Release(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: Release of %d permits", ErrInvalidOption, n)
	}
	_, err := s.base().call(ctx, managedSemName, managerOpSemRelease, &mreq{N: int64(n)})
	return err
}

// Value returns the number of permits free at this moment.
func (s *ManagedSemaphore) Value(ctx context.Context) (int, error) {
	rep, err := s.base().call(ctx, managedSemName, managerOpSemValue, &mreq{})
	return int(rep.N), err
}

// Close lets go of this proxy's reference; permits this process holds stay taken. Close is
// idempotent and does nothing on a nil ManagedSemaphore.
func (s *ManagedSemaphore) Close() error { s.base().close(); return nil }

// String describes the proxy: "mp.ManagedSemaphore(7)".
func (s *ManagedSemaphore) String() string { return s.base().String(managedSemName) }

// MarshalCBOR encodes the proxy, for another process.
func (s *ManagedSemaphore) MarshalCBOR() ([]byte, error) { return s.base().marshal(managedSemName) }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (s *ManagedSemaphore) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy(managedSemName, semaphoreKind, b)
	if err != nil {
		return err
	}
	s.p = p
	watch(s, p)
	return nil
}

// ManagedEvent is an event held by a Manager: Python's Manager().Event(). Set wakes every
// process waiting in Wait; Clear makes later Waits wait again.
type ManagedEvent struct{ p *proxyBase }

const managedEventName = "mp.ManagedEvent"

// NewManagedEvent creates a ManagedEvent, not set, in the manager m.
func NewManagedEvent(ctx context.Context, m *Manager) (*ManagedEvent, error) {
	p, err := m.createSync(ctx, eventKind, &mreq{})
	if err != nil {
		return nil, err
	}
	e := &ManagedEvent{p: p}
	watch(e, p)
	return e, nil
}

func (e *ManagedEvent) base() *proxyBase {
	if e == nil {
		return nil
	}
	return e.p
}

// Set sets the event and wakes every waiter.
func (e *ManagedEvent) Set(ctx context.Context) error {
	_, err := e.base().call(ctx, managedEventName, managerOpEventSet, &mreq{})
	return err
}

// Clear clears the event.
func (e *ManagedEvent) Clear(ctx context.Context) error {
	_, err := e.base().call(ctx, managedEventName, managerOpEventClear, &mreq{})
	return err
}

// IsSet reports whether the event is set.
func (e *ManagedEvent) IsSet(ctx context.Context) (bool, error) {
	rep, err := e.base().call(ctx, managedEventName, managerOpEventIsSet, &mreq{})
	return rep.OK, err
}

// Wait waits until the event is set or ctx ends (then it returns ctx's error).
func (e *ManagedEvent) Wait(ctx context.Context) error {
	_, err := e.base().callBlocking(ctx, managedEventName, managerOpEventWait, &mreq{})
	return err
}

// Close lets go of this proxy's reference. Close is idempotent and does nothing on a nil
// ManagedEvent.
func (e *ManagedEvent) Close() error { e.base().close(); return nil }

// String describes the proxy: "mp.ManagedEvent(7)".
func (e *ManagedEvent) String() string { return e.base().String(managedEventName) }

// MarshalCBOR encodes the proxy, for another process.
func (e *ManagedEvent) MarshalCBOR() ([]byte, error) { return e.base().marshal(managedEventName) }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (e *ManagedEvent) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy(managedEventName, eventKind, b)
	if err != nil {
		return err
	}
	e.p = p
	watch(e, p)
	return nil
}

// ManagedCond is a condition variable held by a Manager over a ManagedMutex of the same manager:
// Python's Manager().Condition(lock). The Cond keeps its mutex alive in the manager.
type ManagedCond struct{ p *proxyBase }

const managedCondName = "mp.ManagedCond"

// NewManagedCond creates a ManagedCond over mu in the manager m. A nil, zero or closed mu, or
// one of another manager, is an ErrInvalidOption.
func NewManagedCond(ctx context.Context, m *Manager, mu *ManagedMutex) (*ManagedCond, error) {
	mb := mu.base()
	if err := mb.check(managedMutexName); err != nil {
		return nil, fmt.Errorf("%w: NewManagedCond: %w", ErrInvalidOption, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	if mb.c != m.c {
		return nil, fmt.Errorf("%w: NewManagedCond with a ManagedMutex of another manager", ErrInvalidOption)
	}
	p, err := m.createSync(ctx, condKind, &mreq{Obj: mb.id})
	if err != nil {
		return nil, err
	}
	c := &ManagedCond{p: p}
	watch(c, p)
	return c, nil
}

func (c *ManagedCond) base() *proxyBase {
	if c == nil {
		return nil
	}
	return c.p
}

// Wait unlocks the Cond's mutex, waits for a Signal, Notify or Broadcast (or for ctx to end),
// and locks the mutex again before returning, also when it returns ctx's error. The mutex must
// be locked on entry (else an error matching ErrNotHeld). A dead previous owner of the mutex is
// reported as ErrOwnerDead, with it locked. A Wait whose ctx ends just as a wake-up chooses it
// returns nil, so that the wake-up is not lost.
func (c *ManagedCond) Wait(ctx context.Context) error {
	_, err := c.base().callBlocking(ctx, managedCondName, managerOpCondWait, &mreq{})
	return err
}

// Signal wakes the longest-waiting waiter, if there is one.
func (c *ManagedCond) Signal(ctx context.Context) error { return c.Notify(ctx, 1) }

// Notify wakes up to n waiters, longest-waiting first.
func (c *ManagedCond) Notify(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: Notify of %d waiters", ErrInvalidOption, n)
	}
	_, err := c.base().call(ctx, managedCondName, managerOpCondNotify, &mreq{N: int64(n)})
	return err
}

// Broadcast wakes every waiter.
func (c *ManagedCond) Broadcast(ctx context.Context) error {
	_, err := c.base().call(ctx, managedCondName, managerOpCondNotify, &mreq{N: -1})
	return err
}

// Close lets go of this proxy's reference. Close is idempotent and does nothing on a nil
// ManagedCond.
func (c *ManagedCond) Close() error { c.base().close(); return nil }

// String describes the proxy: "mp.ManagedCond(7)".
func (c *ManagedCond) String() string { return c.base().String(managedCondName) }

// MarshalCBOR encodes the proxy, for another process.
func (c *ManagedCond) MarshalCBOR() ([]byte, error) { return c.base().marshal(managedCondName) }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (c *ManagedCond) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy(managedCondName, condKind, b)
	if err != nil {
		return err
	}
	c.p = p
	watch(c, p)
	return nil
}

// ManagedBarrier is a barrier held by a Manager: Python's Manager().Barrier(parties). It is
// broken (Wait fails with ErrBrokenBarrier) by Abort, by a party's Wait cut short by its ctx,
// and by a party that dies waiting; Reset makes it whole again.
type ManagedBarrier struct{ p *proxyBase }

const managedBarrierName = "mp.ManagedBarrier"

// NewManagedBarrier creates a ManagedBarrier for parties parties (at least 1) in the manager m.
func NewManagedBarrier(ctx context.Context, m *Manager, parties int) (*ManagedBarrier, error) {
	if parties < 1 {
		return nil, fmt.Errorf("%w: a managed barrier of %d parties", ErrInvalidOption, parties)
	}
	p, err := m.createSync(ctx, barrierKind, &mreq{N: int64(parties)})
	if err != nil {
		return nil, err
	}
	b := &ManagedBarrier{p: p}
	watch(b, p)
	return b, nil
}

func (b *ManagedBarrier) base() *proxyBase {
	if b == nil {
		return nil
	}
	return b.p
}

// Wait waits until every party has called Wait, and returns this party's arrival index (0 for
// the first). When ctx ends first, it returns ctx's error and breaks the barrier for the others.
func (b *ManagedBarrier) Wait(ctx context.Context) (int, error) {
	rep, err := b.base().callBlocking(ctx, managedBarrierName, managerOpBarrierWait, &mreq{})
	return int(rep.N), err
}

// Abort breaks the barrier: the parties waiting, and every later Wait, fail with
// ErrBrokenBarrier until Reset.
func (b *ManagedBarrier) Abort(ctx context.Context) error {
	_, err := b.base().call(ctx, managedBarrierName, managerOpBarrierAbort, &mreq{})
	return err
}

// Reset makes the barrier whole and empty again; the parties waiting fail with ErrBrokenBarrier.
func (b *ManagedBarrier) Reset(ctx context.Context) error {
	_, err := b.base().call(ctx, managedBarrierName, managerOpBarrierReset, &mreq{})
	return err
}

func (b *ManagedBarrier) state(ctx context.Context) (mrep, error) {
	return b.base().call(ctx, managedBarrierName, managerOpBarrierState, &mreq{})
}

// Parties returns the number of parties the barrier waits for.
func (b *ManagedBarrier) Parties(ctx context.Context) (int, error) {
	rep, err := b.state(ctx)
	return int(rep.N), err
}

// Waiting returns the number of parties waiting at this moment.
func (b *ManagedBarrier) Waiting(ctx context.Context) (int, error) {
	rep, err := b.state(ctx)
	return int(rep.Rev), err
}

// Broken reports whether the barrier is broken.
func (b *ManagedBarrier) Broken(ctx context.Context) (bool, error) {
	rep, err := b.state(ctx)
	return rep.OK, err
}

// Close lets go of this proxy's reference. Close is idempotent and does nothing on a nil
// ManagedBarrier.
func (b *ManagedBarrier) Close() error { b.base().close(); return nil }

// String describes the proxy: "mp.ManagedBarrier(7)".
func (b *ManagedBarrier) String() string { return b.base().String(managedBarrierName) }

// MarshalCBOR encodes the proxy, for another process.
func (b *ManagedBarrier) MarshalCBOR() ([]byte, error) { return b.base().marshal(managedBarrierName) }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (b *ManagedBarrier) UnmarshalCBOR(data []byte) error {
	p, err := unmarshalProxy(managedBarrierName, barrierKind, data)
	if err != nil {
		return err
	}
	b.p = p
	watch(b, p)
	return nil
}
