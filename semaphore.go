package mp

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/sys"
)

// Semaphore is a counting semaphore shared by processes: Python's Semaphore and BoundedSemaphore.
//
// Permits taken by a process that dies without releasing them are not lost: each process's
// holding is recorded (for up to 64 processes at a time), under its pid and start time, and a
// waiter that has waited for 100 ms returns the permits of dead holders to the semaphore (also
// when a dead holder's pid has been given to another process since). A process killed between
// taking permits and recording them (a few instructions) leaks them, as does one that takes
// permits while 64 other live processes are recorded.
//
// A Semaphore is safe for concurrent use by goroutines and processes. It is a handle (see the
// package doc): pass it to a child in a task or Process argument, or over a Conn (not on a Queue),
// and the child gets the same semaphore. Acquire and Release cost a few atomic operations when no
// one waits — about 0.1 µs for the pair on a 2-core Linux VM (BenchmarkSemaphore) — plus a futex
// wake-up when someone does. It takes one page of shared memory.
type Semaphore struct {
	syncHandle
	count   *uint32
	waiting *uint32
	bound   *uint32
	slot    atomic.Pointer[semSlot] // this process's entry in the table of holders
}

const (
	semCount   = offWords
	semWaiting = offWords + 4
	semBound   = offWords + 8
	semSlots   = 256 // 64 entries of {procid.ID (uint64), permits held (uint32), unused}
	semEntry   = 16
	semNSlots  = 64
)

type semSlot struct {
	id   *uint64
	held *uint32
}

func (sem *Semaphore) slotAt(i int) semSlot {
	return semSlot{id: sem.s.word64(semSlots + semEntry*i), held: sem.s.word(semSlots + semEntry*i + 8)}
}

// NewSemaphore makes a semaphore with n permits. A negative n is an ErrInvalidOption.
func NewSemaphore(n int) (*Semaphore, error) { return makeSemaphore(n, false) }

// NewBoundedSemaphore makes a semaphore with n permits whose Release panics if it would hold more
// than n: Python's BoundedSemaphore (which raises ValueError).
func NewBoundedSemaphore(n int) (*Semaphore, error) { return makeSemaphore(n, true) }

func makeSemaphore(n int, bounded bool) (*Semaphore, error) {
	if n < 0 || n > math.MaxInt32 {
		return nil, fmt.Errorf("%w: semaphore count %d; it must be between 0 and %d", ErrInvalidOption, n, math.MaxInt32)
	}
	s, err := newShared(kindSemaphore, 0)
	if err != nil {
		return nil, err
	}
	atomic.StoreUint32(s.word(semCount), uint32(n))
	if bounded {
		atomic.StoreUint32(s.word(semBound), uint32(n))
	}
	return newSemaphore(s), nil
}

func newSemaphore(s *shared) *Semaphore {
	return track(&Semaphore{syncHandle: syncHandle{s}, count: s.word(semCount), waiting: s.word(semWaiting), bound: s.word(semBound)}, s)
}

// Acquire takes n permits, waiting until there are enough or ctx ends. When ctx ends first, it
// takes none and returns ctx's error. A negative n is an ErrInvalidOption.
func (sem *Semaphore) Acquire(ctx context.Context, n int) error {
	if err := sem.check(); err != nil {
		return err
	}
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("%w: Acquire(%d)", ErrInvalidOption, n)
	}
	for i := 0; ; i++ {
		c := atomic.LoadUint32(sem.count)
		if c >= uint32(n) {
			if atomic.CompareAndSwapUint32(sem.count, c, c-uint32(n)) {
				sem.record(int32(n))
				return nil
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if sem.s.closed.Load() {
			return sem.check() // closed by another goroutine while this one waited
		}
		if i < 8 {
			sys.Yield()
			continue
		}
		atomic.StoreUint32(sem.waiting, 1)
		if atomic.LoadUint32(sem.count) != c {
			continue
		}
		start := time.Now()
		wait(ctx, sem.count, c)
		if time.Since(start) >= lockProbe/2 && atomic.LoadUint32(sem.count) == c {
			sem.reclaim()
		}
	}
}

// TryAcquire takes n permits if there are enough now, and reports whether it did. A negative n
// takes none and reports false.
func (sem *Semaphore) TryAcquire(n int) bool {
	mustOpen(sem.check())
	if n < 0 || n > math.MaxInt32 {
		return false
	}
	for {
		c := atomic.LoadUint32(sem.count)
		if c < uint32(n) {
			return false
		}
		if atomic.CompareAndSwapUint32(sem.count, c, c-uint32(n)) {
			sem.record(int32(n))
			return true
		}
	}
}

// Release returns n permits. A bounded semaphore panics if it would then hold more than its
// initial count.
func (sem *Semaphore) Release(n int) error {
	if err := sem.check(); err != nil {
		return err
	}
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("%w: Release(%d)", ErrInvalidOption, n)
	}
	bound := atomic.LoadUint32(sem.bound)
	for {
		c := atomic.LoadUint32(sem.count)
		if bound > 0 && uint64(c)+uint64(n) > uint64(bound) {
			panic(fmt.Sprintf("mp: BoundedSemaphore released too many times (%d permits held, %d released, bound %d)", c, n, bound))
		}
		if atomic.CompareAndSwapUint32(sem.count, c, c+uint32(n)) {
			break
		}
	}
	sem.record(-int32(n))
	wakeIf(sem.waiting, sem.count)
	return nil
}

// Value returns the number of permits available now.
func (sem *Semaphore) Value() int {
	mustOpen(sem.check())
	return int(atomic.LoadUint32(sem.count))
}

// Close releases this process's hold on sem: its descriptor now, its page of memory once sem is
// garbage. Permits this process holds stay taken (until it releases them through another handle,
// or exits and a waiter reclaims them). Close is idempotent, and does nothing on a nil Semaphore.
func (sem *Semaphore) Close() error {
	if sem == nil {
		return nil
	}
	return sem.s.close()
}

// check returns the error of a method called on sem when sem is nil, zero or closed.
func (sem *Semaphore) check() error {
	if sem == nil {
		return (*shared)(nil).check(kindSemaphore)
	}
	return sem.s.check(kindSemaphore)
}

// record adds d to this process's holding (never below zero: a process may release permits it did
// not take, as with any semaphore).
func (sem *Semaphore) record(d int32) {
	sl := sem.mySlot()
	if sl == nil {
		return
	}
	for {
		h := atomic.LoadUint32(sl.held)
		nh := int64(h) + int64(d)
		if nh < 0 {
			nh = 0
		}
		if atomic.CompareAndSwapUint32(sl.held, h, uint32(nh)) {
			return
		}
	}
}

// mySlot finds or claims this process's entry in the table of holders; nil when the table is full.
func (sem *Semaphore) mySlot() *semSlot {
	if sl := sem.slot.Load(); sl != nil {
		return sl
	}
	id := sem.s.id
	for i := range semNSlots {
		sl := sem.slotAt(i)
		if atomic.LoadUint64(sl.id) == id || atomic.CompareAndSwapUint64(sl.id, 0, id) {
			sem.slot.Store(&sl)
			return &sl
		}
	}
	// Full: free the entries of dead processes that hold nothing, and try again next time.
	for i := range semNSlots {
		sl := sem.slotAt(i)
		if v := atomic.LoadUint64(sl.id); v != 0 && atomic.LoadUint32(sl.held) == 0 && !procid.Alive(procid.ID(v)) {
			atomic.CompareAndSwapUint64(sl.id, v, 0)
		}
	}
	return nil
}

// reclaim returns the permits held by dead processes.
func (sem *Semaphore) reclaim() {
	for i := range semNSlots {
		sl := sem.slotAt(i)
		id := atomic.LoadUint64(sl.id)
		if id == 0 || id == sem.s.id || procid.Alive(procid.ID(id)) {
			continue
		}
		if h := atomic.SwapUint32(sl.held, 0); h > 0 {
			atomic.AddUint32(sem.count, h)
			futex.Wake(sem.count, math.MaxInt32)
		}
		atomic.CompareAndSwapUint64(sl.id, id, 0)
	}
}

func (*Semaphore) handleAdopt(fds []int, meta string) (any, error) {
	s, err := adoptShared(firstFD(fds), meta, kindSemaphore)
	if err != nil {
		return nil, err
	}
	return newSemaphore(s), nil
}
