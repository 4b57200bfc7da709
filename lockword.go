package mp

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/sys"
)

// A lock word in shared memory is 64 bits: 0 when free, else its owner's procid.ID — the pid in
// the low half, a stamp of the owner's start time in the high half — with lockContended set in
// the low half when a process may be asleep waiting for it (then Unlock wakes one). Taking a free
// lock is one compare-and-swap of the whole word, so the owner's identity is recorded with the
// lock itself: there is no moment at which the lock is held and its owner unknown. Waiters sleep
// on a futex over the low half (the pid and the flag), for at most lockProbe at a time; when a
// wait ends with the word unchanged, the waiter checks whether the owner is alive, and takes over
// the lock of a dead one. These are the semantics of a robust pthread mutex, built on the owner's
// identity rather than on the kernel's robust futex lists (which are per thread, and Go moves
// goroutines between threads).
//
// The owner is alive when its pid exists, is not a zombie, and started when the stamp says
// (procid.Alive): an owner killed while holding the lock, whose pid has since been given to an
// unrelated process, is dead. Where the system does not tell start times the stamp is 0 and the
// pid alone decides (macOS and Linux tell them).

// lockAt returns the 64-bit lock word that starts at w, which must be 8-byte aligned: the form
// in which the shared memory objects with a lock of their own (Value, Array, the queue's ring)
// hold it.
func lockAt(w *uint32) *uint64 { return (*uint64)(unsafe.Pointer(w)) }

// loOff is where the low half of a uint64 lies: 0 on little-endian machines, 4 on big-endian.
var loOff = 4 - hiOff

// lowHalf returns the low 32 bits of the lock word l (the owner's pid and lockContended): the
// futex word that waiters sleep on.
func lowHalf(l *uint64) *uint32 { return (*uint32)(unsafe.Add(unsafe.Pointer(l), loOff)) }

// owner returns the identity of the process that holds a lock whose word is v.
func owner(v uint64) procid.ID { return procid.ID(v &^ lockContended) }

// lockWord takes the lock word l for the process id. ownerDead reports that the lock was taken
// over from a process that died holding it.
func lockWord(ctx context.Context, l *uint64, id uint64) (ownerDead bool, err error) {
	if atomic.CompareAndSwapUint64(l, 0, id) {
		return false, nil
	}
	for range 100 {
		if atomic.LoadUint64(l) == 0 && atomic.CompareAndSwapUint64(l, 0, id) {
			return false, nil
		}
	}
	lo := lowHalf(l)
	for i := 0; ; i++ {
		v := atomic.LoadUint64(l)
		if v == 0 {
			if atomic.CompareAndSwapUint64(l, 0, id|lockContended) {
				return false, nil
			}
			continue
		}
		if i&7 == 0 {
			sys.Yield() // an owner on this CPU may need it to finish
		}
		if i < 16 {
			continue
		}
		if v&lockContended == 0 {
			if !atomic.CompareAndSwapUint64(l, v, v|lockContended) {
				continue
			}
			v |= lockContended
		}
		start := time.Now()
		wait(ctx, lo, uint32(v))
		if err := ctx.Err(); err != nil {
			futex.Wake(lo, 1) // pass on a wake-up this waiter may have taken
			return false, err
		}
		if atomic.LoadUint64(l) == v && time.Since(start) >= lockProbe/2 && !procid.Alive(owner(v)) {
			if atomic.CompareAndSwapUint64(l, v, id|lockContended) {
				return true, nil
			}
		}
	}
}

// tryLockWord takes l if it is free, or held by a process that has died.
func tryLockWord(l *uint64, id uint64) (ok, ownerDead bool) {
	if atomic.CompareAndSwapUint64(l, 0, id) {
		return true, false
	}
	v := atomic.LoadUint64(l)
	if v == 0 {
		return atomic.CompareAndSwapUint64(l, 0, id), false
	}
	if !procid.Alive(owner(v)) && atomic.CompareAndSwapUint64(l, v, id|v&lockContended) {
		return true, true
	}
	return false, false
}

// unlockWord64 frees l, waking a waiter if one may sleep; it reports false if l was not locked.
func unlockWord64(l *uint64) bool {
	v := atomic.SwapUint64(l, 0)
	if v&lockContended != 0 {
		futex.Wake(lowHalf(l), 1)
	}
	return v != 0
}

// unlockWord frees the lock word that starts at w (see lockAt).
func unlockWord(w *uint32) bool { return unlockWord64(lockAt(w)) }
