package mp

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mp-go/mp/internal/futex"
)

// The synchronisation objects of this file — Mutex, Semaphore, Event, Cond and Barrier — are words
// in a small shared memory segment of their own, waited on with futexes (Linux; elsewhere with
// polling). Each is a handle: put it in a task argument (or send it over a Conn) and the child
// gets the same object. Close releases this process's hold on it (the object lives on in the
// processes that still have it); after Close, methods with an error result return ErrClosed, and
// the others panic with it.

// Mutex is a mutual exclusion lock shared by processes: Python's multiprocessing.Lock, made robust.
// If the process holding it dies, the next Lock acquires it and reports ErrOwnerDead, so that the
// caller can repair what the mutex guards (Python waits for ever). The holder is known by its pid
// and its start time, so a holder that died is recognised as dead also once its pid has been
// given to another process. Any goroutine of any process may unlock it, as with sync.Mutex.
// Lock and Unlock cost one atomic operation each when the mutex is free.
type Mutex struct {
	w      *uint64 // the lock word, first: the fast paths touch w, id and closed only
	id     uint64
	closed *atomic.Bool
	s      *shared
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
	return track(&Mutex{w: s.word64(offWords), id: s.id, closed: &s.closed, s: s}, s)
}

// Lock locks m, waiting until it is free or ctx ends. It returns ErrOwnerDead, with m locked,
// when its previous holder died holding it; a waiter notices the death within about 100 ms
// (it checks the holder's pid and start time each time a wait of that length ends). When ctx
// ends first, m is left as it was and Lock returns ctx's error.
func (m *Mutex) Lock(ctx context.Context) error {
	if m != nil && !m.closed.Load() && atomic.CompareAndSwapUint64(m.w, 0, m.id) {
		return nil
	}
	return m.lockSlow(ctx)
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	if m == nil {
		return (*shared)(nil).check()
	}
	return lockOwned64(ctx, m.s, m.w)
}

// lockOwned takes the lock word that starts at w (see lockAt) of the object s, reporting a dead
// previous owner as ErrOwnerDead (the lock is held then).
func lockOwned(ctx context.Context, s *shared, w *uint32) error {
	return lockOwned64(ctx, s, lockAt(w))
}

func lockOwned64(ctx context.Context, s *shared, w *uint64) error {
	if err := s.check(); err != nil {
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
	if err := m.s.check(); err != nil {
		return false, err
	}
	ok, dead := tryLockWord(m.w, m.s.id)
	if dead {
		return true, ErrOwnerDead
	}
	return ok, nil
}

// Unlock unlocks m. It panics if m is not locked, as sync.Mutex does.
func (m *Mutex) Unlock() {
	if m != nil && !m.closed.Load() {
		if v := atomic.SwapUint64(m.w, 0); v != 0 && v&lockContended == 0 {
			return
		} else if v != 0 {
			futex.Wake(lowHalf(m.w), 1)
			return
		}
		panic("mp: Unlock of unlocked Mutex")
	}
	m.s.mustCheck()
}

// Locked reports whether m is locked (by any process) at this moment.
func (m *Mutex) Locked() bool {
	m.s.mustCheck()
	return atomic.LoadUint64(m.w) != 0
}

// Locker returns m as a sync.Locker, whose Lock waits without a ctx and takes a dead owner's
// mutex silently.
func (m *Mutex) Locker() sync.Locker { return mutexLocker{m} }

type mutexLocker struct{ m *Mutex }

func (l mutexLocker) Lock() {
	if err := l.m.Lock(context.Background()); err != nil && err != ErrOwnerDead {
		panic(err)
	}
}

func (l mutexLocker) Unlock() { l.m.Unlock() }

// Close releases this process's hold on m.
func (m *Mutex) Close() error { return m.s.close() }

func (m *Mutex) handleDup() (int, string, error) {
	if m == nil {
		return -1, "", (*shared)(nil).check()
	}
	return m.s.dup()
}

func (*Mutex) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindMutex)
	if err != nil {
		return nil, err
	}
	return newMutex(s), nil
}

// MarshalCBOR refuses to encode a Mutex outside a task argument or a Conn's Send.
func (m *Mutex) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindMutex) }
