package mp

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mp-go/mp/internal/futex"
)

// Mutex is a mutual exclusion lock shared by processes: Python's multiprocessing.Lock, made robust.
// If the process holding it dies, the next Lock acquires it and reports ErrOwnerDead, so that the
// caller can repair what the mutex guards (Python waits for ever). The holder is known by its pid
// and its start time, so a holder that died is recognised as dead also once its pid has been
// given to another process. Any goroutine of any process may unlock it, as with sync.Mutex.
//
// A Mutex is safe for concurrent use by goroutines and processes. It is a handle (see the package
// doc): pass it to a child in a task or Process argument, or over a Conn (not on a Queue), and the
// child gets the same mutex. Lock and Unlock cost one atomic operation each when the mutex is free:
// about 25 ns for the pair on a 2-core Linux VM (lock_uncontended in bench/compare); two processes
// taking it in turn for a shared counter make about 27 million increments a second
// (lock_contention). The mutex takes one page of shared memory.
type Mutex struct {
	w      *uint64 // the lock word, first: the fast paths touch w, id and closed only
	id     uint64
	closed *atomic.Bool // nil in a zero Mutex
	syncHandle
}

// NewMutex makes an unlocked mutex.
func NewMutex() (*Mutex, error) {
	s, err := newShared(kindMutex, 0)
	if err != nil {
		return nil, err
	}
	return newMutex(s), nil
}

func newMutex(s *shared) *Mutex {
	return track(&Mutex{w: s.word64(offWords), id: s.id, closed: &s.closed, syncHandle: syncHandle{s}}, s)
}

// Lock locks m, waiting until it is free or ctx ends. It returns ErrOwnerDead, with m locked,
// when its previous holder died holding it; a waiter notices the death within about 100 ms
// (it checks the holder's pid and start time each time a wait of that length ends). When ctx
// ends first, m is left as it was and Lock returns ctx's error.
func (m *Mutex) Lock(ctx context.Context) error {
	if m != nil && m.closed != nil && !m.closed.Load() && atomic.CompareAndSwapUint64(m.w, 0, m.id) {
		return nil
	}
	return m.lockSlow(ctx)
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	defer runtime.KeepAlive(m) // its cleanup unmaps m.w: not while a Lock waits on it
	return lockOwned64(ctx, m.s, kindMutex, m.w)
}

// check returns the error of a method called on m when m is nil, zero or closed.
func (m *Mutex) check() error {
	if m == nil {
		return (*shared)(nil).check(kindMutex)
	}
	return m.s.check(kindMutex)
}

// lockOwned takes the lock word that starts at w (see lockAt) of the object s of kind, reporting
// a dead previous owner as ErrOwnerDead (the lock is held then).
func lockOwned(ctx context.Context, s *shared, kind uint32, w *uint32) error {
	if err := s.check(kind); err != nil {
		return err
	}
	return lockOwned64(ctx, s, kind, lockAt(w))
}

func lockOwned64(ctx context.Context, s *shared, kind uint32, w *uint64) error {
	if err := s.check(kind); err != nil {
		return err
	}
	dead, err := lockWord(ctx, w, s.id)
	if err == nil && dead {
		err = ErrOwnerDead
	}
	return err
}

// TryLock locks m if it is free (or its holder has died, which it reports with ErrOwnerDead),
// and reports whether it did.
func (m *Mutex) TryLock() (bool, error) {
	if err := m.check(); err != nil {
		return false, err
	}
	ok, dead := tryLockWord(m.w, m.s.id)
	if dead {
		return true, ErrOwnerDead
	}
	return ok, nil
}

// Unlock unlocks m. It panics if m is not locked, as sync.Mutex does, and, as every method without
// an error result, if m is nil, zero or closed (with an error wrapping ErrClosed).
func (m *Mutex) Unlock() {
	if m != nil && m.closed != nil && !m.closed.Load() {
		if v := atomic.SwapUint64(m.w, 0); v != 0 && v&lockContended == 0 {
			return
		} else if v != 0 {
			futex.Wake(lowHalf(m.w), 1)
			return
		}
		panic("mp: Unlock of unlocked Mutex")
	}
	panic(m.check())
}

// Locked reports whether m is locked (by any process) at this moment.
func (m *Mutex) Locked() bool {
	mustOpen(m.check())
	return atomic.LoadUint64(m.w) != 0
}

// Locker returns m as a sync.Locker, whose Lock waits without a ctx and takes a dead owner's
// mutex silently.
func (m *Mutex) Locker() sync.Locker {
	mustOpen(m.check())
	return mutexLocker{m}
}

type mutexLocker struct{ m *Mutex }

func (l mutexLocker) Lock() {
	if err := l.m.Lock(context.Background()); err != nil && !errors.Is(err, ErrOwnerDead) {
		panic(err)
	}
}

func (l mutexLocker) Unlock() { l.m.Unlock() }

// Close releases this process's hold on m: its descriptor now, its page of memory once m is
// garbage. The mutex lives on in the other processes that hold it, locked or not; a lock this
// process holds stays held. Close is idempotent, and does nothing on a nil Mutex.
func (m *Mutex) Close() error {
	if m == nil {
		return nil
	}
	return m.s.close()
}

func (*Mutex) handleAdopt(fds []int, meta string) (any, error) {
	s, err := adoptShared(firstFD(fds), meta, kindMutex)
	if err != nil {
		return nil, err
	}
	return newMutex(s), nil
}
