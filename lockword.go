package mp

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/futex"
)

// A lock word in shared memory is 0 when free, else the owner's pid, with lockContended set when
// a process may be asleep waiting for it (then Unlock wakes one). A waiter sleeps on the word for
// at most lockProbe at a time; when a wait ends with the word unchanged, it checks whether the
// owner is alive, and takes over the lock of a dead one. These are the semantics of a robust
// pthread mutex, built on the pid rather than on the kernel's robust futex lists (which are per
// thread, and Go moves goroutines between threads).

// lockWord takes the lock word l for the process pid. ownerDead reports that the lock was taken
// over from a process that died holding it.
func lockWord(ctx context.Context, l *uint32, pid uint32) (ownerDead bool, err error) {
	if atomic.CompareAndSwapUint32(l, 0, pid) {
		return false, nil
	}
	for range 100 {
		if atomic.LoadUint32(l) == 0 && atomic.CompareAndSwapUint32(l, 0, pid) {
			return false, nil
		}
	}
	for i := 0; ; i++ {
		v := atomic.LoadUint32(l)
		if v == 0 {
			if atomic.CompareAndSwapUint32(l, 0, pid|lockContended) {
				return false, nil
			}
			continue
		}
		if i&7 == 0 {
			osYield() // an owner on this CPU may need it to finish
		}
		if i < 16 {
			continue
		}
		if v&lockContended == 0 {
			if !atomic.CompareAndSwapUint32(l, v, v|lockContended) {
				continue
			}
			v |= lockContended
		}
		start := time.Now()
		wait(ctx, l, v)
		if err := ctx.Err(); err != nil {
			futex.Wake(l, 1) // pass on a wake-up this waiter may have taken
			return false, err
		}
		if atomic.LoadUint32(l) == v && time.Since(start) >= lockProbe/2 && !processAlive(int(v&^lockContended)) {
			if atomic.CompareAndSwapUint32(l, v, pid|lockContended) {
				return true, nil
			}
		}
	}
}

// tryLockWord takes l if it is free, or held by a process that has died.
func tryLockWord(l *uint32, pid uint32) (ok, ownerDead bool) {
	if atomic.CompareAndSwapUint32(l, 0, pid) {
		return true, false
	}
	v := atomic.LoadUint32(l)
	if v == 0 {
		return atomic.CompareAndSwapUint32(l, 0, pid), false
	}
	if !processAlive(int(v&^lockContended)) && atomic.CompareAndSwapUint32(l, v, pid|v&lockContended) {
		return true, true
	}
	return false, false
}

// unlockWord frees l, waking a waiter if one may sleep; it reports false if l was not locked.
func unlockWord(l *uint32) bool {
	v := atomic.SwapUint32(l, 0)
	if v&lockContended != 0 {
		futex.Wake(l, 1)
	}
	return v != 0
}
