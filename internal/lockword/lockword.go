// Package lockword is the robust lock of mp's shared memory objects: a 64-bit word that holds
// its owner's identity, so that a process that dies holding it is found dead and the lock taken
// over from it.
//
// A lock word is 0 when free, else its owner's procid.ID — the pid in the low half, a stamp of
// the owner's start time in the high half — with Contended set in the low half when a process
// may be asleep waiting for it (then Unlock wakes one). Taking a free lock is one
// compare-and-swap of the whole word, so the owner's identity is recorded with the lock itself:
// there is no moment at which the lock is held and its owner unknown. Waiters sleep on a futex
// over the low half (the pid and the flag), for at most Probe at a time; when a wait ends with
// the word unchanged, the waiter checks whether the owner is alive, and takes over the lock of a
// dead one. These are the semantics of a robust pthread mutex, built on the owner's identity
// rather than on the kernel's robust futex lists (which are per thread, and Go moves goroutines
// between threads).
//
// The owner is alive when its pid exists, is not a zombie, and started when the stamp says
// (procid.Alive): an owner killed while holding the lock, whose pid has since been given to an
// unrelated process, is dead. Where the system does not tell start times the stamp is 0 and the
// pid alone decides (macOS and Linux tell them).
//
// Goroutines of one process share its identity: the word excludes them from one another as it
// excludes processes, and an owner is never taken for dead by a goroutine of its own process.
package lockword

import (
	"context"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/sys"
)

const (
	// Contended is set in a held lock word when a process may be asleep waiting for it.
	Contended = 1 << 31

	// Probe is how long a wait lasts before the waiter looks again at what it waits for (and,
	// for a lock, whether its owner is alive). Wake-ups are not lost in practice; this bounds
	// the cost of the rare one that is, and how long a dead owner's lock stays held.
	Probe = 100 * time.Millisecond
)

// At returns the 64-bit lock word that starts at w, which must be 8-byte aligned.
func At(w *uint32) *uint64 { return (*uint64)(unsafe.Pointer(w)) }

// loOff is where the low half of a uint64 lies: 0 on little-endian machines, 4 on big-endian.
var loOff = func() uintptr {
	var x uint64 = 1
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// LowHalf returns the low 32 bits of the lock word l (the owner's pid and Contended): the futex
// word that waiters sleep on.
func LowHalf(l *uint64) *uint32 { return (*uint32)(unsafe.Add(unsafe.Pointer(l), loOff)) }

// Owner returns the identity of the process that holds a lock whose word is v.
func Owner(v uint64) procid.ID { return procid.ID(v &^ Contended) }

// Lock takes the lock word l for the process id (a procid.ID). ownerDead reports that the lock
// was taken over from a process that died holding it. It fails only when ctx ends, and then does
// not hold the lock.
func Lock(ctx context.Context, l *uint64, id uint64) (ownerDead bool, err error) {
	if atomic.CompareAndSwapUint64(l, 0, id) {
		return false, nil
	}
	for range 100 {
		if atomic.LoadUint64(l) == 0 && atomic.CompareAndSwapUint64(l, 0, id) {
			return false, nil
		}
	}
	lo := LowHalf(l)
	for i := 0; ; i++ {
		v := atomic.LoadUint64(l)
		if v == 0 {
			if atomic.CompareAndSwapUint64(l, 0, id|Contended) {
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
		if v&Contended == 0 {
			if !atomic.CompareAndSwapUint64(l, v, v|Contended) {
				continue
			}
			v |= Contended
		}
		start := time.Now()
		Wait(ctx, lo, uint32(v))
		if err := ctx.Err(); err != nil {
			futex.Wake(lo, 1) // pass on a wake-up this waiter may have taken
			return false, err
		}
		if atomic.LoadUint64(l) == v && time.Since(start) >= Probe/2 && !procid.Alive(Owner(v)) {
			if atomic.CompareAndSwapUint64(l, v, id|Contended) {
				return true, nil
			}
		}
	}
}

// TryLock takes l if it is free, or held by a process that has died.
func TryLock(l *uint64, id uint64) (ok, ownerDead bool) {
	if atomic.CompareAndSwapUint64(l, 0, id) {
		return true, false
	}
	v := atomic.LoadUint64(l)
	if v == 0 {
		return atomic.CompareAndSwapUint64(l, 0, id), false
	}
	if !procid.Alive(Owner(v)) && atomic.CompareAndSwapUint64(l, v, id|v&Contended) {
		return true, true
	}
	return false, false
}

// Unlock frees l, waking a waiter if one may sleep; it reports false if l was not locked.
func Unlock(l *uint64) bool {
	v := atomic.SwapUint64(l, 0)
	if v&Contended != 0 {
		futex.Wake(LowHalf(l), 1)
	}
	return v != 0
}

// Wait sleeps while *addr == val, for at most Probe, or until ctx ends.
func Wait(ctx context.Context, addr *uint32, val uint32) {
	d := time.Duration(Probe)
	if ctx.Done() != nil {
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < d {
				d = max(left, 0)
			}
		}
		stop := context.AfterFunc(ctx, func() { futex.Wake(addr, math.MaxInt32) })
		defer stop()
		if ctx.Err() != nil {
			return
		}
	}
	futex.Wait(addr, val, d)
}
