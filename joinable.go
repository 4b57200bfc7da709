package mp

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
)

// A JoinableQueue counts the values put (the count half of the tail word) and the TaskDone calls
// (done). Join waits until the two are equal. So that a consumer killed between Get and TaskDone
// does not make Join wait for ever, the ring also records which process holds each value taken
// and not yet done: a table, in the header, of entries {procid.ID of a process, values it holds}.
//
//   - Get adds one to its process's entry before the value leaves the ring (before the head
//     store), so that a value is always either in the ring or held by someone.
//   - TaskDone counts done first and then takes one from its process's entry (never below zero:
//     a TaskDone in a process that holds nothing, for a value another process took, takes nothing
//     from anyone).
//   - A process that finds the table full (more than holderEntries live consumers) counts in
//     heldMore, which Join treats as held by a live process.
//
// When a joiner has waited lockProbe without progress, it looks whether the values unfinished are
// all lost: the ring is empty, and no live process holds any. It then writes them off — done
// becomes the count of puts, lost grows by as many — and every joiner that was waiting returns an
// error matching ErrOwnerDead with the number written off while it waited. Reading done, the
// tail and the head before and after the table, unchanged, makes the look a snapshot: no value
// can move between the ring, a holder and done without changing one of them.

// The JoinableQueue's words of the ring's header, after those of ring.go.
const (
	offLost     = 776  // uint32: values Join wrote off, lost with dead consumers
	offHeldMore = 780  // uint32: values held by processes that found no entry in the table
	offHolders  = 1024 // the holders table, up to ringData

	holderSize    = 16 // {id uint64, held uint32, unused uint32}
	holderEntries = (ringData - offHolders) / holderSize
)

func (r *ring) holderID(i int) *uint64 {
	return (*uint64)(unsafe.Pointer(&r.seg.Mem[offHolders+holderSize*i]))
}

func (r *ring) holderHeld(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.seg.Mem[offHolders+holderSize*i+8]))
}

func (r *ring) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&r.seg.Mem[off])) }

// claimHolder finds or makes this process's entry in the holders table: its own, a free one, or
// one of a dead process (whose count it resets). With none, the process counts in heldMore.
func (r *ring) claimHolder() *uint32 {
	if p := r.held.Load(); p != nil {
		return p
	}
	self := uint64(procid.Self())
	p := r.findHolder(self)
	if !r.held.CompareAndSwap(nil, p) {
		return r.held.Load()
	}
	return p
}

func (r *ring) findHolder(self uint64) *uint32 {
	for i := 0; i < holderEntries; {
		id := atomic.LoadUint64(r.holderID(i))
		if id == self || id == 0 && atomic.CompareAndSwapUint64(r.holderID(i), 0, self) {
			return r.holderHeld(i)
		}
		if id != 0 {
			i++ // else another process took the entry first: look at it again
		}
	}
	for i := range holderEntries {
		id := atomic.LoadUint64(r.holderID(i))
		if id == self {
			return r.holderHeld(i) // another goroutine of this process claimed it meanwhile
		}
		if !procid.Alive(procid.ID(id)) && atomic.CompareAndSwapUint64(r.holderID(i), id, self) {
			// Until this store the dead process's count is this live one's: Join only waits
			// longer for it.
			atomic.StoreUint32(r.holderHeld(i), 0)
			return r.holderHeld(i)
		}
	}
	return r.word(offHeldMore)
}

// taskDone counts one item processed; it reports false when every item put was counted already.
func (r *ring) taskDone() bool {
	for {
		d := atomic.LoadUint32(r.done)
		puts := uint32(atomic.LoadUint64(r.tail) >> 32)
		if puts == d {
			return false
		}
		if atomic.CompareAndSwapUint32(r.done, d, d+1) {
			r.unhold()
			if puts == d+1 {
				wakeIf(r.jwait, r.done)
			}
			return true
		}
	}
}

// unhold takes one from this process's count of values held, if it holds any.
func (r *ring) unhold() {
	p := r.held.Load()
	if p == nil {
		return // this process never took a value
	}
	for {
		h := atomic.LoadUint32(p)
		if h == 0 || atomic.CompareAndSwapUint32(p, h, h-1) {
			return
		}
	}
}

// join waits until every item put has been counted by taskDone, or written off as lost with dead
// consumers (then it reports how many were, while it waited).
func (r *ring) join(ctx context.Context) error {
	lost := r.word(offLost)
	lost0 := atomic.LoadUint32(lost)
	for {
		d := atomic.LoadUint32(r.done)
		if uint32(atomic.LoadUint64(r.tail)>>32) == d {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.dropped() {
			return r.droppedError()
		}
		atomic.StoreUint32(r.jwait, 1)
		if uint32(atomic.LoadUint64(r.tail)>>32) == d {
			break
		}
		start := time.Now()
		wait(ctx, r.done, d)
		if atomic.LoadUint32(r.done) == d && (time.Since(start) >= lockProbe/2 || r.isClosed()) {
			r.writeOffLost()
		}
	}
	if n := atomic.LoadUint32(lost) - lost0; n != 0 {
		return &lostValuesError{n: int(n)}
	}
	return nil
}

// writeOffLost writes off the unfinished values if they are all lost: none is left in the ring,
// and no live process holds any.
func (r *ring) writeOffLost() {
	d := atomic.LoadUint32(r.done)
	t := atomic.LoadUint64(r.tail)
	h := atomic.LoadUint64(r.head)
	puts, gets := uint32(t>>32), uint32(h>>32)
	if puts == d || puts != gets || atomic.LoadUint32(r.word(offHeldMore)) != 0 {
		return
	}
	self := uint64(procid.Self())
	for i := range holderEntries {
		id := atomic.LoadUint64(r.holderID(i))
		if id == 0 || atomic.LoadUint32(r.holderHeld(i)) == 0 {
			continue
		}
		if id == self || procid.Alive(procid.ID(id)) {
			return // a live process holds a value: it may yet call TaskDone
		}
	}
	if atomic.LoadUint64(r.tail) != t || atomic.LoadUint64(r.head) != h || !atomic.CompareAndSwapUint32(r.done, d, puts) {
		return // something moved: look again later
	}
	atomic.AddUint32(r.word(offLost), puts-d)
	futex.Wake(r.done, math.MaxInt32)
}

// unfinished is the number of items put and not yet counted by taskDone (or written off).
func (r *ring) unfinished() int {
	d := atomic.LoadUint32(r.done)
	return int(uint32(atomic.LoadUint64(r.tail)>>32) - d)
}

// lostValuesError is Join's error when values were lost with consumers that died holding them.
type lostValuesError struct{ n int }

func (e *lostValuesError) Error() string {
	s := "s"
	if e.n == 1 {
		s = ""
	}
	return fmt.Sprintf("mp: %d value%s taken from the JoinableQueue by processes that died before TaskDone; Join wrote them off", e.n, s)
}

// Is makes the error match ErrOwnerDead.
func (e *lostValuesError) Is(target error) bool { return target == ErrOwnerDead }
