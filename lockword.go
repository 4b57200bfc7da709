package mp

import (
	"context"

	"github.com/mp-go/mp/internal/lockword"
)

// The lock word of every shared memory object with a lock (Mutex, Value, Array, the queue's
// ring, Barrier) is internal/lockword's robust lock: 64 bits holding the owner's procid.ID, taken
// over from an owner that died holding it. Its package doc tells how. These names keep the root's
// callers as they were.

// The root's constants (ring.go) are the lock's: a compile-time check that they agree.
var (
	_ = [1]int{}[lockContended-lockword.Contended]
	_ = [1]int{}[lockProbe-lockword.Probe]
)

// lockAt returns the 64-bit lock word that starts at w, which must be 8-byte aligned: the form
// in which the shared memory objects with a lock of their own (Value, Array, the queue's ring)
// hold it.
func lockAt(w *uint32) *uint64 { return lockword.At(w) }

// lowHalf returns the low 32 bits of the lock word l (the owner's pid and lockContended): the
// futex word that waiters sleep on.
func lowHalf(l *uint64) *uint32 { return lockword.LowHalf(l) }

// lockWord takes the lock word l for the process id. ownerDead reports that the lock was taken
// over from a process that died holding it.
func lockWord(ctx context.Context, l *uint64, id uint64) (ownerDead bool, err error) {
	return lockword.Lock(ctx, l, id)
}

// tryLockWord takes l if it is free, or held by a process that has died.
func tryLockWord(l *uint64, id uint64) (ok, ownerDead bool) { return lockword.TryLock(l, id) }

// unlockWord64 frees l, waking a waiter if one may sleep; it reports false if l was not locked.
func unlockWord64(l *uint64) bool { return lockword.Unlock(l) }

// unlockWord frees the lock word that starts at w (see lockAt).
func unlockWord(w *uint32) bool { return unlockWord64(lockAt(w)) }
