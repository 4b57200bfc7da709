//go:build unix

package mp_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/mp-go/mp"
)

// method is one method of a handle type H, called on a closed handle: err for a method with an
// error result, pnc for one without (which must panic).
type method[H any] struct {
	name string
	err  func(ctx context.Context, h H) error
	pnc  func(h H)
}

func errM[H any](name string, f func(ctx context.Context, h H) error) method[H] {
	return method[H]{name: name, err: f}
}

func panicM[H any](name string, f func(h H)) method[H] {
	return method[H]{name: name, pnc: f}
}

// checkMisuse is the package doc's rule for misuse, for one handle type: on a nil pointer, a
// zero value and a handle after Close, every method with an error result returns an error
// wrapping ErrClosed that names the type, every method without one panics with such an error
// (not a runtime error), and Close returns nil, twice.
func checkMisuse[S any, H interface {
	*S
	Close() error
}](t *testing.T, open func() (H, error), ms ...method[H]) {
	typ := reflect.TypeFor[H]().String()
	name, _, _ := strings.Cut(typ, "[") // "*mp.Value", without its type argument
	states := []struct {
		state string
		make  func() H
	}{
		{"nil", func() H { return nil }},
		{"zero", func() H { return H(new(S)) }},
		{"closed", func() H {
			h := must(open())
			if err := h.Close(); err != nil {
				t.Fatalf("%s.Close: %v", typ, err)
			}
			return h
		}},
	}
	for _, st := range states {
		for _, m := range ms {
			t.Run(typ+"/"+st.state+"/"+m.name, func(t *testing.T) {
				h := st.make()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				var err error
				if m.err != nil {
					err = m.err(ctx, h)
					if ctx.Err() != nil {
						t.Fatalf("%s waited for its ctx instead of failing at once (%v)", m.name, err)
					}
				} else {
					err = recoverError(t, func() { m.pnc(h) })
				}
				if !errors.Is(err, mp.ErrClosed) {
					t.Fatalf("%s on a %s %s: %v; want an error wrapping ErrClosed", m.name, st.state, typ, err)
				}
				if !strings.Contains(err.Error(), name) {
					t.Errorf("%s on a %s %s: %q does not name the type", m.name, st.state, typ, err)
				}
			})
		}
		t.Run(typ+"/"+st.state+"/Close", func(t *testing.T) {
			h := st.make()
			for range 2 {
				if err := h.Close(); err != nil {
					t.Fatalf("Close on a %s %s: %v", st.state, typ, err)
				}
			}
		})
	}
}

// recoverError runs f, which must panic with an error, and returns that error.
func recoverError(t *testing.T, f func()) (err error) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("did not panic")
		}
		if re, ok := r.(runtime.Error); ok {
			t.Fatalf("panicked with a runtime error: %v", re)
		}
		e, ok := r.(error)
		if !ok {
			t.Fatalf("panicked with a %T, not an error: %v", r, r)
		}
		err = e
	}()
	f()
	return nil
}

func TestMisuse(t *testing.T) {
	checkMisuse(t, mp.NewMutex,
		errM("Lock", func(ctx context.Context, m *mp.Mutex) error { return m.Lock(ctx) }),
		errM("TryLock", func(_ context.Context, m *mp.Mutex) error { _, err := m.TryLock(); return err }),
		panicM("Unlock", (*mp.Mutex).Unlock),
		panicM("Locked", func(m *mp.Mutex) { m.Locked() }),
		panicM("Locker", func(m *mp.Mutex) { m.Locker() }),
	)
	checkMisuse(t, func() (*mp.Semaphore, error) { return mp.NewSemaphore(1) },
		errM("Acquire", func(ctx context.Context, s *mp.Semaphore) error { return s.Acquire(ctx, 1) }),
		errM("Release", func(_ context.Context, s *mp.Semaphore) error { return s.Release(1) }),
		panicM("TryAcquire", func(s *mp.Semaphore) { s.TryAcquire(1) }),
		panicM("Value", func(s *mp.Semaphore) { s.Value() }),
	)
	checkMisuse(t, mp.NewEvent,
		errM("Set", func(_ context.Context, e *mp.Event) error { return e.Set() }),
		errM("Clear", func(_ context.Context, e *mp.Event) error { return e.Clear() }),
		errM("Wait", func(ctx context.Context, e *mp.Event) error { return e.Wait(ctx) }),
		panicM("IsSet", func(e *mp.Event) { e.IsSet() }),
	)
	checkMisuse(t, func() (*mp.Cond, error) { return mp.NewCond(must(mp.NewMutex())) },
		errM("Wait", func(ctx context.Context, c *mp.Cond) error { return c.Wait(ctx) }),
		errM("Signal", func(_ context.Context, c *mp.Cond) error { return c.Signal() }),
		errM("Notify", func(_ context.Context, c *mp.Cond) error { return c.Notify(1) }),
		errM("Broadcast", func(_ context.Context, c *mp.Cond) error { return c.Broadcast() }),
	)
	checkMisuse(t, func() (*mp.Barrier, error) { return mp.NewBarrier(2) },
		errM("Wait", func(ctx context.Context, b *mp.Barrier) error { _, err := b.Wait(ctx); return err }),
		errM("Abort", func(_ context.Context, b *mp.Barrier) error { return b.Abort() }),
		errM("Reset", func(_ context.Context, b *mp.Barrier) error { return b.Reset() }),
		panicM("Parties", func(b *mp.Barrier) { b.Parties() }),
		panicM("Waiting", func(b *mp.Barrier) { b.Waiting() }),
		panicM("Broken", func(b *mp.Barrier) { b.Broken() }),
	)
	checkMisuse(t, func() (*mp.Value[int64], error) { return mp.NewValue[int64](1) },
		errM("Lock", func(ctx context.Context, v *mp.Value[int64]) error { return v.Lock(ctx) }),
		panicM("Unlock", (*mp.Value[int64]).Unlock),
		panicM("Load", func(v *mp.Value[int64]) { v.Load() }),
		panicM("Store", func(v *mp.Value[int64]) { v.Store(2) }),
		panicM("Add", func(v *mp.Value[int64]) { v.Add(1) }),
		panicM("CompareAndSwap", func(v *mp.Value[int64]) { v.CompareAndSwap(1, 2) }),
	)
	checkMisuse(t, func() (*mp.Array[int32], error) { return mp.NewArray[int32](4) },
		errM("Lock", func(ctx context.Context, a *mp.Array[int32]) error { return a.Lock(ctx) }),
		panicM("Unlock", (*mp.Array[int32]).Unlock),
		panicM("Slice", func(a *mp.Array[int32]) { a.Slice() }),
		panicM("Len", func(a *mp.Array[int32]) { a.Len() }),
	)
	checkMisuse(t, func() (*mp.SharedMemory, error) { return mp.CreateSharedMemory("", 4096) },
		panicM("Bytes", func(m *mp.SharedMemory) { m.Bytes() }),
		panicM("Size", func(m *mp.SharedMemory) { m.Size() }),
		panicM("Name", func(m *mp.SharedMemory) { m.Name() }),
	)
	checkMisuse(t, func() (*mp.Queue[int], error) { return mp.NewQueue[int](0) },
		errM("Put", func(ctx context.Context, q *mp.Queue[int]) error { return q.Put(ctx, 1) }),
		errM("TryPut", func(_ context.Context, q *mp.Queue[int]) error { return q.TryPut(1) }),
		errM("Get", func(ctx context.Context, q *mp.Queue[int]) error { _, err := q.Get(ctx); return err }),
		errM("TryGet", func(_ context.Context, q *mp.Queue[int]) error { _, err := q.TryGet(); return err }),
		errM("Shutdown", func(_ context.Context, q *mp.Queue[int]) error { return q.Shutdown() }),
		panicM("Len", func(q *mp.Queue[int]) { q.Len() }),
		panicM("Cap", func(q *mp.Queue[int]) { q.Cap() }),
		panicM("IsShutdown", func(q *mp.Queue[int]) { q.IsShutdown() }),
	)
	checkMisuse(t, func() (*mp.JoinableQueue[int], error) { return mp.NewJoinableQueue[int](0) },
		errM("Put", func(ctx context.Context, q *mp.JoinableQueue[int]) error { return q.Put(ctx, 1) }),
		errM("TryPut", func(_ context.Context, q *mp.JoinableQueue[int]) error { return q.TryPut(1) }),
		errM("Get", func(ctx context.Context, q *mp.JoinableQueue[int]) error { _, err := q.Get(ctx); return err }),
		errM("TryGet", func(_ context.Context, q *mp.JoinableQueue[int]) error { _, err := q.TryGet(); return err }),
		errM("Shutdown", func(_ context.Context, q *mp.JoinableQueue[int]) error { return q.Shutdown() }),
		errM("Join", func(ctx context.Context, q *mp.JoinableQueue[int]) error { return q.Join(ctx) }),
		panicM("Len", func(q *mp.JoinableQueue[int]) { q.Len() }),
		panicM("Cap", func(q *mp.JoinableQueue[int]) { q.Cap() }),
		panicM("IsShutdown", func(q *mp.JoinableQueue[int]) { q.IsShutdown() }),
		panicM("TaskDone", (*mp.JoinableQueue[int]).TaskDone),
		panicM("Unfinished", func(q *mp.JoinableQueue[int]) { q.Unfinished() }),
	)
	checkMisuse(t, func() (*mp.Conn[int], error) {
		a, b, err := mp.Pipe[int]()
		if err == nil {
			t.Cleanup(func() { b.Close() })
		}
		return a, err
	},
		errM("Send", func(ctx context.Context, c *mp.Conn[int]) error { return c.Send(ctx, 1) }),
		errM("SendBytes", func(ctx context.Context, c *mp.Conn[int]) error { return c.SendBytes(ctx, []byte("x")) }),
		errM("Recv", func(ctx context.Context, c *mp.Conn[int]) error { _, err := c.Recv(ctx); return err }),
		errM("RecvBytes", func(ctx context.Context, c *mp.Conn[int]) error { _, err := c.RecvBytes(ctx); return err }),
		errM("Poll", func(_ context.Context, c *mp.Conn[int]) error { _, err := c.Poll(0); return err }),
	)
}

// TestMisuseConstructors: NewCond of a nil, zero or closed Mutex, and a Cond whose L was set to
// nil, are clear errors; String describes a nil or closed handle.
func TestMisuseConstructors(t *testing.T) {
	closed := must(mp.NewMutex())
	closed.Close()
	for name, m := range map[string]*mp.Mutex{"nil": nil, "zero": new(mp.Mutex), "closed": closed} {
		if _, err := mp.NewCond(m); !errors.Is(err, mp.ErrClosed) || !errors.Is(err, mp.ErrInvalidOption) {
			t.Errorf("NewCond(%s mutex): %v; want ErrInvalidOption and ErrClosed", name, err)
		}
	}
	c := must(mp.NewCond(must(mp.NewMutex())))
	c.L = nil
	if err := c.Signal(); !errors.Is(err, mp.ErrClosed) {
		t.Errorf("Signal on a Cond without L: %v", err)
	}

	q := must(mp.NewQueue[int](3))
	if got, want := q.String(), "mp.Queue[int](len 0, cap 3)"; got != want {
		t.Errorf("String = %q; want %q", got, want)
	}
	q.Shutdown()
	if got, want := q.String(), "mp.Queue[int](len 0, cap 3, shut down)"; got != want {
		t.Errorf("String after Shutdown = %q; want %q", got, want)
	}
	q.Close()
	if got, want := q.String(), "mp.Queue[int](closed)"; got != want {
		t.Errorf("String after Close = %q; want %q", got, want)
	}
	if got, want := (*mp.Queue[int])(nil).String(), "mp.Queue[int](nil)"; got != want {
		t.Errorf("String of nil = %q; want %q", got, want)
	}
	if got, want := (*mp.JoinableQueue[int])(nil).String(), "mp.JoinableQueue[int](nil)"; got != want {
		t.Errorf("String of nil = %q; want %q", got, want)
	}
	if got, want := (*mp.Conn[int])(nil).String(), "mp.Conn(nil)"; got != want {
		t.Errorf("String of nil = %q; want %q", got, want)
	}
	var zs mp.SharedMemory
	if err := zs.Unlink(); !errors.Is(err, mp.ErrClosed) {
		t.Errorf("Unlink of a zero SharedMemory: %v", err)
	}

	// A closed or zero handle cannot be passed on: an ErrEncode error that wraps ErrClosed.
	a, b, err := mp.Pipe[LockedCount]()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for name, m := range map[string]*mp.Mutex{"zero": new(mp.Mutex), "closed": closed} {
		err := a.Send(context.Background(), LockedCount{M: m})
		if !errors.Is(err, mp.ErrEncode) || !errors.Is(err, mp.ErrClosed) {
			t.Errorf("Send of a %s Mutex: %v; want ErrEncode and ErrClosed", name, err)
		}
	}
}

// TestMarshalCBORRefuses: a handle encoded with the cbor package directly, by pointer, by value
// in a struct, or nil, is an ErrEncode error naming its type (or null, when nil) — never an empty
// map that would decode into a dead handle. This is what the MarshalCBOR methods are for; mp's
// own paths never reach them (TestHandleErrors, TestHandlesNoDescriptorLeak).
func TestMarshalCBORRefuses(t *testing.T) {
	m := must(mp.NewMutex())
	defer m.Close()
	q := must(mp.NewQueue[int](0))
	defer q.Close()
	jq := must(mp.NewJoinableQueue[int](0))
	defer jq.Close()
	a, b, err := mp.Pipe[int]()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for _, tc := range []struct {
		v    any
		name string
	}{
		{m, "*mp.Mutex"},
		{must(mp.NewCond(m)), "*mp.Cond"},
		{must(mp.NewValue[int32](1)), "*mp.Value"},
		{must(mp.CreateSharedMemory("", 64)), "*mp.SharedMemory"},
		{q, "*mp.Queue"},
		{jq, "*mp.JoinableQueue"},
		{a, "*mp.Conn"},
		{struct{ M *mp.Mutex }{m}, "*mp.Mutex"},
		{struct{ E mp.Event }{}, "mp synchronisation object"},
	} {
		_, err := cbor.Marshal(tc.v)
		if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("cbor.Marshal(%T): %v; want an ErrEncode error naming %s", tc.v, err, tc.name)
		}
	}
	for _, v := range []any{(*mp.Mutex)(nil), (*mp.Queue[int])(nil), (*mp.JoinableQueue[int])(nil), (*mp.Conn[int])(nil)} {
		if b, err := cbor.Marshal(v); err != nil || len(b) != 1 || b[0] != 0xf6 {
			t.Errorf("cbor.Marshal(%T(nil)) = %x, %v; want null", v, b, err)
		}
	}
}
