package mp

import (
	"context"
	"fmt"
)

// ManagedQueue is a FIFO queue held by a Manager: Python's Manager().Queue(maxsize), typed. Its
// values travel by value, through the codec with its limits (as a Dict's); a value may hold
// proxies of the same manager (which the queue keeps alive while it holds them), but no handle
// (a local Queue, a Mutex, a file: those cross only as descriptors; put a managed object's
// proxy instead). Memory is bounded: the queue holds at most its capacity of values, each of at
// most 1 MiB encoded (ErrTooLarge). Shutdown is Python 3.13's: Put fails with ErrClosed, Get
// returns what is left and then ErrClosed. Cost: a round trip to the manager per call (see
// BenchmarkManagedQueue); a local Queue is much faster where processes share a machine.
type ManagedQueue[T any] struct{ q managedQueue[T] }

// ManagedJoinableQueue is a ManagedQueue that counts the values not yet marked done with
// TaskDone, for Join: Python's Manager().JoinableQueue().
type ManagedJoinableQueue[T any] struct{ q managedQueue[T] }

type managedQueue[T any] struct {
	p    *proxyBase
	what string
}

// NewManagedQueue creates a ManagedQueue of capacity values (0: 4096; at most 1<<20) in the
// manager m. A negative capacity is an ErrInvalidOption, as is a T whose values do not cross
// processes intact (see NewQueue).
func NewManagedQueue[T any](ctx context.Context, m *Manager, capacity int) (*ManagedQueue[T], error) {
	p, err := newManagedQueue[T](ctx, m, queueKind, "NewManagedQueue", capacity)
	if err != nil {
		return nil, err
	}
	q := &ManagedQueue[T]{q: managedQueue[T]{p: p, what: "mp.ManagedQueue"}}
	watch(q, p)
	return q, nil
}

// NewManagedJoinableQueue creates a ManagedJoinableQueue as NewManagedQueue does.
func NewManagedJoinableQueue[T any](ctx context.Context, m *Manager, capacity int) (*ManagedJoinableQueue[T], error) {
	p, err := newManagedQueue[T](ctx, m, jqueueKind, "NewManagedJoinableQueue", capacity)
	if err != nil {
		return nil, err
	}
	q := &ManagedJoinableQueue[T]{q: managedQueue[T]{p: p, what: "mp.ManagedJoinableQueue"}}
	watch(q, p)
	return q, nil
}

func newManagedQueue[T any](ctx context.Context, m *Manager, kind, ctor string, capacity int) (*proxyBase, error) {
	if capacity < 0 || capacity > 1<<20 {
		return nil, fmt.Errorf("%w: %s of capacity %d; it must be 0 (the default, 4096) to %d", ErrInvalidOption, ctor, capacity, 1<<20)
	}
	if err := checkElemType[T](ctor); err != nil {
		return nil, err
	}
	return m.createSync(ctx, kind, &mreq{N: int64(capacity)})
}

func (q *managedQueue[T]) put(ctx context.Context, v T, try bool) error {
	b, err := managerEncode("a value for "+q.what, v)
	if err != nil {
		return err
	}
	if len(b) > managedQueueMaxItem {
		return fmt.Errorf("%w: a value of %d bytes for %s (at most %d)", ErrTooLarge, len(b), q.what, managedQueueMaxItem)
	}
	req := &mreq{Val: b}
	if try {
		req.N = 1
		_, err = q.p.call(ctx, q.what, managerOpQPut, req)
	} else {
		_, err = q.p.callBlocking(ctx, q.what, managerOpQPut, req)
	}
	return err
}

func (q *managedQueue[T]) get(ctx context.Context, try bool) (T, error) {
	var v T
	var rep mrep
	var err error
	if try {
		rep, err = q.p.call(ctx, q.what, managerOpQGet, &mreq{N: 1})
	} else {
		rep, err = q.p.callBlocking(ctx, q.what, managerOpQGet, &mreq{})
	}
	if err != nil {
		return v, err
	}
	err = managerDecode("a value of "+q.what, rep.Val, &v)
	return v, err
}

func (q *managedQueue[T]) lenUnfinished(ctx context.Context) (mrep, error) {
	return q.p.call(ctx, q.what, managerOpQLen, &mreq{})
}

func (q *managedQueue[T]) shutdown(ctx context.Context) error {
	_, err := q.p.call(ctx, q.what, managerOpQShutdown, &mreq{})
	return err
}

func (q *managedQueue[T]) isShutdown(ctx context.Context) (bool, error) {
	rep, err := q.p.call(ctx, q.what, managerOpQIsShutdown, &mreq{})
	return rep.OK, err
}

func (q *managedQueue[T]) unmarshal(what, kind string, b []byte) error {
	p, err := unmarshalProxy(what, kind, b)
	if err != nil {
		return err
	}
	q.p, q.what = p, what
	return nil
}

func (q *ManagedQueue[T]) mq() *managedQueue[T] {
	if q == nil {
		return &managedQueue[T]{what: "mp.ManagedQueue"}
	}
	if q.q.what == "" { // a zero one: no write to it, which may be shared
		return &managedQueue[T]{p: q.q.p, what: "mp.ManagedQueue"}
	}
	return &q.q
}

// Put adds a copy of v at the end of the queue, waiting for room until ctx ends. When ctx ends
// first, it puts nothing and returns ctx's error (unless the manager took the value just then:
// then it returns nil). After Shutdown it fails with ErrClosed.
func (q *ManagedQueue[T]) Put(ctx context.Context, v T) error { return q.mq().put(ctx, v, false) }

// TryPut adds v if there is room now, and fails with ErrQueueFull if not.
func (q *ManagedQueue[T]) TryPut(ctx context.Context, v T) error { return q.mq().put(ctx, v, true) }

// Get takes the oldest value, waiting until there is one or ctx ends. When ctx ends first, it
// takes nothing and returns ctx's error (unless the manager gave it a value just then: then it
// returns the value, which is never lost). Once the queue is shut down, Get returns the values
// left and then ErrClosed. A value that does not decode into T is taken and reported as an
// ErrDecode error.
func (q *ManagedQueue[T]) Get(ctx context.Context) (T, error) { return q.mq().get(ctx, false) }

// TryGet takes the oldest value if there is one, and fails with ErrQueueEmpty if not.
func (q *ManagedQueue[T]) TryGet(ctx context.Context) (T, error) { return q.mq().get(ctx, true) }

// Len returns the number of values in the queue at this moment.
func (q *ManagedQueue[T]) Len(ctx context.Context) (int, error) {
	rep, err := q.mq().lenUnfinished(ctx)
	return int(rep.N), err
}

// Shutdown shuts the queue down for every process: Put fails with ErrClosed from then on, Get
// returns what is left and then ErrClosed, and every Put and Get waiting is woken (the values of
// Puts waiting are not put). It is idempotent, and does not close this proxy.
func (q *ManagedQueue[T]) Shutdown(ctx context.Context) error { return q.mq().shutdown(ctx) }

// IsShutdown reports whether the queue has been shut down (by any process).
func (q *ManagedQueue[T]) IsShutdown(ctx context.Context) (bool, error) {
	return q.mq().isShutdown(ctx)
}

// Close lets go of this proxy's reference (see Manager); the queue goes on for the others.
// Close is idempotent and does nothing on a nil ManagedQueue.
func (q *ManagedQueue[T]) Close() error { q.mq().p.close(); return nil }

// String describes the proxy: "mp.ManagedQueue(7)".
func (q *ManagedQueue[T]) String() string { return q.mq().p.String("mp.ManagedQueue") }

// MarshalCBOR encodes the proxy, for another process.
func (q *ManagedQueue[T]) MarshalCBOR() ([]byte, error) { return q.mq().p.marshal("mp.ManagedQueue") }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (q *ManagedQueue[T]) UnmarshalCBOR(b []byte) error {
	if err := q.q.unmarshal("mp.ManagedQueue", queueKind, b); err != nil {
		return err
	}
	watch(q, q.q.p)
	return nil
}

func (q *ManagedJoinableQueue[T]) mq() *managedQueue[T] {
	if q == nil {
		return &managedQueue[T]{what: "mp.ManagedJoinableQueue"}
	}
	if q.q.what == "" { // a zero one: no write to it, which may be shared
		return &managedQueue[T]{p: q.q.p, what: "mp.ManagedJoinableQueue"}
	}
	return &q.q
}

// Put is ManagedQueue.Put; the value counts as unfinished until a TaskDone.
func (q *ManagedJoinableQueue[T]) Put(ctx context.Context, v T) error {
	return q.mq().put(ctx, v, false)
}

// TryPut is ManagedQueue.TryPut.
func (q *ManagedJoinableQueue[T]) TryPut(ctx context.Context, v T) error {
	return q.mq().put(ctx, v, true)
}

// Get is ManagedQueue.Get. The process that gets a value is expected to mark it done.
func (q *ManagedJoinableQueue[T]) Get(ctx context.Context) (T, error) {
	return q.mq().get(ctx, false)
}

// TryGet is ManagedQueue.TryGet.
func (q *ManagedJoinableQueue[T]) TryGet(ctx context.Context) (T, error) {
	return q.mq().get(ctx, true)
}

// Len returns the number of values in the queue at this moment.
func (q *ManagedJoinableQueue[T]) Len(ctx context.Context) (int, error) {
	rep, err := q.mq().lenUnfinished(ctx)
	return int(rep.N), err
}

// Unfinished returns the number of values put and not yet marked done.
func (q *ManagedJoinableQueue[T]) Unfinished(ctx context.Context) (int, error) {
	rep, err := q.mq().lenUnfinished(ctx)
	return int(rep.Rev), err
}

// TaskDone marks one value got from the queue as processed: Python's task_done. One more
// TaskDone than values put is an error matching ErrNotHeld.
func (q *ManagedJoinableQueue[T]) TaskDone(ctx context.Context) error {
	_, err := q.mq().p.call(ctx, q.mq().what, managerOpQTaskDone, &mreq{})
	return err
}

// Join waits until every value put has been marked done, or ctx ends: Python's join. Values
// taken by processes that died before marking them done never will be: once the queue is empty
// and every unfinished value was taken by a dead process, Join writes them off (they count as
// done from then on) and returns an error matching ErrOwnerDead that says how many.
func (q *ManagedJoinableQueue[T]) Join(ctx context.Context) error {
	_, err := q.mq().p.callBlocking(ctx, q.mq().what, managerOpQJoin, &mreq{})
	return err
}

// Shutdown is ManagedQueue.Shutdown.
func (q *ManagedJoinableQueue[T]) Shutdown(ctx context.Context) error { return q.mq().shutdown(ctx) }

// IsShutdown reports whether the queue has been shut down (by any process).
func (q *ManagedJoinableQueue[T]) IsShutdown(ctx context.Context) (bool, error) {
	return q.mq().isShutdown(ctx)
}

// Close lets go of this proxy's reference. Close is idempotent and does nothing on a nil
// ManagedJoinableQueue.
func (q *ManagedJoinableQueue[T]) Close() error { q.mq().p.close(); return nil }

// String describes the proxy: "mp.ManagedJoinableQueue(7)".
func (q *ManagedJoinableQueue[T]) String() string {
	return q.mq().p.String("mp.ManagedJoinableQueue")
}

// MarshalCBOR encodes the proxy, for another process.
func (q *ManagedJoinableQueue[T]) MarshalCBOR() ([]byte, error) {
	return q.mq().p.marshal("mp.ManagedJoinableQueue")
}

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (q *ManagedJoinableQueue[T]) UnmarshalCBOR(b []byte) error {
	if err := q.q.unmarshal("mp.ManagedJoinableQueue", jqueueKind, b); err != nil {
		return err
	}
	watch(q, q.q.p)
	return nil
}

// base makes a ManagedQueue a Proxy (Publish).
func (q *ManagedQueue[T]) base() *proxyBase {
	if q == nil {
		return nil
	}
	return q.q.p
}

// base makes a ManagedJoinableQueue a Proxy (Publish).
func (q *ManagedJoinableQueue[T]) base() *proxyBase {
	if q == nil {
		return nil
	}
	return q.q.p
}
