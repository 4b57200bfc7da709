package mp

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
)

// Barrier makes a fixed number of parties wait for each other: Python's
// multiprocessing.Barrier. Each Wait returns once all parties have called it, with the party's
// arrival index (0 for the first). The barrier then resets for the next round.
//
// A party whose Wait is cut short by its ctx breaks the barrier, as does a waiting party that dies
// (noticed within about 100 ms by the parties waiting, or at once by the last to arrive; a party
// is known by its pid and start time, so one whose pid was reused is still seen dead), Abort,
// or Reset while parties wait: every Wait then returns ErrBrokenBarrier (the one cut short wraps
// its ctx error too), until Reset.
//
// A Barrier is safe for concurrent use by goroutines and processes. It is a handle (see the
// package doc): pass it to a child in a task or Process argument, or over a Conn (not on a Queue),
// and the child gets the same barrier. A round costs each party a lock and a store, and the last
// a futex wake-up of the others: about 4 µs for two parties on a 2-core Linux VM
// (BenchmarkBarrier). It takes a page of shared memory (more above 448 parties).
type Barrier struct {
	syncHandle
	lock                           *uint64 // a lock word (lockword.go) over arrived and the ids
	arrived, gen, broken, resetGen *uint32
	parties                        int
}

const (
	barLock     = offWords
	barArrived  = offWords + 64
	barGen      = offWords + 68
	barBroken   = offWords + 72
	barResetGen = offWords + 76 // the round a Reset started while parties waited
	barParties  = offWords + 80
	barIDs      = 512 // the procid.IDs (uint64) of the waiting parties, by arrival index
	maxBarrier  = 1 << 16
	barrierPage = 4096
)

// NewBarrier makes a barrier for parties parties (at least 1, at most 65536).
func NewBarrier(parties int) (*Barrier, error) {
	if parties < 1 || parties > maxBarrier {
		return nil, fmt.Errorf("%w: barrier of %d parties; it must be between 1 and %d", ErrInvalidOption, parties, maxBarrier)
	}
	s, err := newShared(kindBarrier, barIDs+8*parties)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(s.word(barParties), uint32(parties))
	return newBarrier(s)
}

func newBarrier(s *shared) (*Barrier, error) {
	p := int(atomic.LoadUint32(s.word(barParties)))
	if p < 1 || barIDs+8*p > len(s.mem) {
		s.seg.Close()
		return nil, fmt.Errorf("%w: a malformed barrier arrived", ErrDecode)
	}
	return track(&Barrier{
		syncHandle: syncHandle{s}, lock: s.word64(barLock), arrived: s.word(barArrived), gen: s.word(barGen),
		broken: s.word(barBroken), resetGen: s.word(barResetGen), parties: p,
	}, s), nil
}

// Parties returns the number of parties the barrier waits for.
func (b *Barrier) Parties() int {
	mustOpen(b.check())
	return b.parties
}

// Waiting returns the number of parties waiting now.
func (b *Barrier) Waiting() int {
	mustOpen(b.check())
	return int(atomic.LoadUint32(b.arrived))
}

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken() bool {
	mustOpen(b.check())
	return atomic.LoadUint32(b.broken) != 0
}

// Wait waits until every party has called Wait, and returns this party's arrival index.
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	if _, err := lockWord(ctx, b.lock, b.s.id); err != nil {
		return 0, err // a dead owner of the internal lock died between two stores: nothing to repair
	}
	if atomic.LoadUint32(b.broken) != 0 {
		unlockWord64(b.lock)
		return 0, ErrBrokenBarrier
	}
	idx := atomic.LoadUint32(b.arrived)
	gen := atomic.LoadUint32(b.gen)
	if int(idx)+1 == b.parties {
		if b.partyDied(gen) {
			// A party died after arriving: the round cannot be trusted to have all of them.
			unlockWord64(b.lock)
			b.breakIt()
			return 0, ErrBrokenBarrier
		}
		atomic.StoreUint32(b.arrived, 0)
		atomic.AddUint32(b.gen, 1)
		unlockWord64(b.lock)
		futex.Wake(b.gen, math.MaxInt32)
		return int(idx), nil
	}
	atomic.StoreUint64(b.s.word64(barIDs+8*int(idx)), b.s.id)
	atomic.StoreUint32(b.arrived, idx+1)
	unlockWord64(b.lock)
	for {
		if g := atomic.LoadUint32(b.gen); g != gen {
			if atomic.LoadUint32(b.resetGen) == gen+1 {
				return 0, ErrBrokenBarrier // a Reset ended this round
			}
			return int(idx), nil
		}
		if atomic.LoadUint32(b.broken) != 0 {
			return 0, ErrBrokenBarrier
		}
		if err := ctx.Err(); err != nil {
			b.breakIt()
			return 0, fmt.Errorf("%w: %w", ErrBrokenBarrier, err)
		}
		if b.s.closed.Load() {
			return 0, b.check() // closed by another goroutine while this one waited
		}
		start := time.Now()
		wait(ctx, b.gen, gen)
		if atomic.LoadUint32(b.gen) == gen && time.Since(start) >= lockProbe/2 && b.partyDied(gen) {
			b.breakIt()
		}
	}
}

// partyDied reports whether a party waiting in round gen, in another process, has died.
func (b *Barrier) partyDied(gen uint32) bool {
	n := int(atomic.LoadUint32(b.arrived))
	for i := range min(n, b.parties) {
		id := atomic.LoadUint64(b.s.word64(barIDs + 8*i))
		if id != 0 && id != b.s.id && !procid.Alive(procid.ID(id)) && atomic.LoadUint32(b.gen) == gen {
			return true
		}
	}
	return false
}

func (b *Barrier) breakIt() {
	atomic.StoreUint32(b.broken, 1)
	futex.Wake(b.gen, math.MaxInt32) // the waiters re-check broken when woken
}

// Abort breaks the barrier: every Wait, now and until Reset, returns ErrBrokenBarrier.
func (b *Barrier) Abort() error {
	if err := b.check(); err != nil {
		return err
	}
	b.breakIt()
	return nil
}

// Reset returns the barrier to its empty state; parties waiting now get ErrBrokenBarrier.
func (b *Barrier) Reset() error {
	if err := b.check(); err != nil {
		return err
	}
	lockWord(context.Background(), b.lock, b.s.id)
	gen := atomic.LoadUint32(b.gen)
	if atomic.LoadUint32(b.arrived) != 0 {
		atomic.StoreUint32(b.resetGen, gen+1) // the waiters of round gen see a break
	}
	atomic.StoreUint32(b.arrived, 0)
	atomic.StoreUint32(b.gen, gen+1)
	atomic.StoreUint32(b.broken, 0)
	unlockWord64(b.lock)
	futex.Wake(b.gen, math.MaxInt32)
	return nil
}

// Close releases this process's hold on b: its descriptor now, its memory once b is garbage. A
// Wait of this process that is waiting returns an error wrapping ErrClosed (and leaves its party
// counted, so the others wait for a party that will not come: break the barrier first with Abort
// if they should not). Close is idempotent, and does nothing on a nil Barrier.
func (b *Barrier) Close() error {
	if b == nil {
		return nil
	}
	return b.s.close()
}

// check returns the error of a method called on b when b is nil, zero or closed.
func (b *Barrier) check() error {
	if b == nil {
		return (*shared)(nil).check(kindBarrier)
	}
	return b.s.check(kindBarrier)
}

func (*Barrier) handleAdopt(fds []int, meta string) (any, error) {
	s, err := adoptShared(firstFD(fds), meta, kindBarrier)
	if err != nil {
		return nil, err
	}
	return newBarrier(s)
}
