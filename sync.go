package mp

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
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

// Semaphore is a counting semaphore shared by processes: Python's Semaphore and BoundedSemaphore.
//
// Permits taken by a process that dies without releasing them are not lost: each process's
// holding is recorded (for up to 64 processes at a time), under its pid and start time, and a
// waiter that has waited for 100 ms returns the permits of dead holders to the semaphore (also
// when a dead holder's pid has been given to another process since). A process killed between
// taking permits and recording them (a few instructions) leaks them, as does one that takes
// permits while 64 other live processes are recorded.
type Semaphore struct {
	s       *shared
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
	return track(&Semaphore{s: s, count: s.word(semCount), waiting: s.word(semWaiting), bound: s.word(semBound)}, s)
}

// Acquire takes n permits, waiting until there are enough or ctx ends.
func (sem *Semaphore) Acquire(ctx context.Context, n int) error {
	if err := sem.s.check(); err != nil {
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
		if i < 8 {
			osYield()
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

// TryAcquire takes n permits if there are enough now, and reports whether it did.
func (sem *Semaphore) TryAcquire(n int) bool {
	if sem.s.check() != nil || n < 0 {
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
	if err := sem.s.check(); err != nil {
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
	if sem.s.check() != nil {
		return 0
	}
	return int(atomic.LoadUint32(sem.count))
}

// Close releases this process's hold on sem (permits it holds stay taken).
func (sem *Semaphore) Close() error { return sem.s.close() }

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

func (sem *Semaphore) handleDup() (int, string, error) {
	if sem == nil {
		return -1, "", (*shared)(nil).check()
	}
	return sem.s.dup()
}

func (*Semaphore) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindSemaphore)
	if err != nil {
		return nil, err
	}
	return newSemaphore(s), nil
}

// MarshalCBOR refuses to encode a Semaphore outside a task argument or a Conn's Send.
func (sem *Semaphore) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindSemaphore) }

// Event is a flag shared by processes that they can wait for: Python's multiprocessing.Event.
type Event struct {
	s       *shared
	flag    *uint32
	waiting *uint32
}

// NewEvent makes an event, not set.
func NewEvent() (*Event, error) {
	s, err := newShared(kindEvent, 0)
	if err != nil {
		return nil, err
	}
	return newEvent(s), nil
}

func newEvent(s *shared) *Event {
	return track(&Event{s: s, flag: s.word(offWords), waiting: s.word(offWords + 4)}, s)
}

// Set sets the event and wakes every process waiting for it.
func (e *Event) Set() error {
	if err := e.s.check(); err != nil {
		return err
	}
	if atomic.SwapUint32(e.flag, 1) == 0 {
		wakeIf(e.waiting, e.flag)
	}
	return nil
}

// Clear resets the event.
func (e *Event) Clear() error {
	if err := e.s.check(); err != nil {
		return err
	}
	atomic.StoreUint32(e.flag, 0)
	return nil
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool { return e.s.check() == nil && atomic.LoadUint32(e.flag) != 0 }

// Wait waits until the event is set or ctx ends (Python's wait(timeout) is Wait with a ctx that
// has a timeout; a nil error is its True).
func (e *Event) Wait(ctx context.Context) error {
	if err := e.s.check(); err != nil {
		return err
	}
	if atomic.LoadUint32(e.flag) != 0 {
		return nil
	}
	for {
		if spin(e.flag, 0) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		atomic.StoreUint32(e.waiting, 1)
		if atomic.LoadUint32(e.flag) != 0 {
			return nil
		}
		wait(ctx, e.flag, 0)
		if atomic.LoadUint32(e.flag) != 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.s.closed.Load() {
			return e.s.check()
		}
	}
}

// Close releases this process's hold on e.
func (e *Event) Close() error { return e.s.close() }

func (e *Event) handleDup() (int, string, error) {
	if e == nil {
		return -1, "", (*shared)(nil).check()
	}
	return e.s.dup()
}

func (*Event) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindEvent)
	if err != nil {
		return nil, err
	}
	return newEvent(s), nil
}

// MarshalCBOR refuses to encode an Event outside a task argument or a Conn's Send.
func (e *Event) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindEvent) }

// Cond is a condition variable shared by processes, over an mp.Mutex: Python's
// multiprocessing.Condition. A Cond handed to a child brings its Mutex along (as c.L); pass the
// Mutex too if the child needs it by itself — it arrives as the same mutex.
//
// Signal wakes one waiter and Notify(n) up to n, as Python's notify(n) does; Broadcast wakes all.
// Each wake-up is a token that one waiter takes, so a Signal never wakes more than one; which
// waiter takes it is not specified (it is usually one asleep at the time of the Signal, not
// necessarily the one waiting longest). Wakeups may still be spurious — a waiter that dies
// without taking its token leaves it to a later waiter — so wait in a loop that checks the
// condition. Wait, Signal and Broadcast cost a few atomic operations, plus a futex system call
// when there is a sleeper to wake.
type Cond struct {
	s   *shared
	seq *uint32 // bumped by every wake-up: the futex word the waiters sleep on
	// count holds the waiters not yet chosen by a wake-up (low half) and the wake-up tokens not
	// yet taken (high half). One word, so that a waiter leaving early can tell which it was.
	count *uint64
	// L is the mutex that Wait unlocks and locks again.
	L *Mutex
}

const (
	condSeq   = offWords
	condCount = offWords + 8
	condToken = 1 << 32 // one token, in count
)

// NewCond makes a condition variable over m.
func NewCond(m *Mutex) (*Cond, error) {
	if m == nil || m.s.check() != nil {
		return nil, fmt.Errorf("%w: NewCond needs an open *mp.Mutex", ErrInvalidOption)
	}
	s, err := newShared(kindCond, 0)
	if err != nil {
		return nil, err
	}
	return newCond(s, m), nil
}

func newCond(s *shared, m *Mutex) *Cond {
	return track(&Cond{s: s, seq: s.word(condSeq), count: s.word64(condCount), L: m}, s)
}

// Wait unlocks c.L, waits for a Signal, Notify or Broadcast (or for ctx to end), and locks c.L
// again before returning, also when it returns ctx's error. c.L must be locked on entry. A dead
// previous owner of c.L is reported as ErrOwnerDead, with c.L locked. A Wait whose ctx ends just
// as a wake-up chooses it returns nil, so that the wake-up is not lost.
func (c *Cond) Wait(ctx context.Context) error {
	if err := c.s.check(); err != nil {
		return err
	}
	if c.L == nil {
		return fmt.Errorf("%w: a Cond without a Mutex; make it with mp.NewCond", ErrInvalidOption)
	}
	atomic.AddUint64(c.count, 1) // before Unlock: a Signal made under c.L after it counts this waiter
	c.L.Unlock()
	woken := false
	for {
		seq := atomic.LoadUint32(c.seq) // before looking for a token: a wake-up after it changes seq
		if c.takeToken() {
			woken = true
			break
		}
		if ctx.Err() != nil || c.s.closed.Load() {
			woken = c.leave()
			break
		}
		// At most lockProbe: a wake-up lost (with a Close racing it, say) is found then. A wait
		// that ends without a token, as the others after a Signal do, goes on waiting.
		wait(ctx, c.seq, seq)
	}
	lerr := c.L.Lock(context.Background())
	if !woken {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.s.check(); err != nil {
			return err
		}
	}
	return lerr
}

// takeToken takes a wake-up token if there is one.
func (c *Cond) takeToken() bool {
	for {
		v := atomic.LoadUint64(c.count)
		if v < condToken {
			return false
		}
		if atomic.CompareAndSwapUint64(c.count, v, v-condToken) {
			return true
		}
	}
}

// leave takes a waiter that gives up out of the count: out of the waiters not yet chosen if
// there are any, else — every waiter has been chosen, this one too — by taking a token, which it
// reports.
func (c *Cond) leave() (tookToken bool) {
	for {
		v := atomic.LoadUint64(c.count)
		nv := v - 1
		if uint32(v) == 0 {
			if v < condToken {
				return false // not counted: cannot happen
			}
			nv = v - condToken
		}
		if atomic.CompareAndSwapUint64(c.count, v, nv) {
			return uint32(v) == 0
		}
	}
}

// Signal wakes one process (or goroutine) waiting on c, if any: Python's notify(). It may be
// called with or without c.L held.
func (c *Cond) Signal() error { return c.wake(1) }

// Notify wakes up to n processes (or goroutines) waiting on c: Python's notify(n). A negative n
// is an ErrInvalidOption.
func (c *Cond) Notify(n int) error {
	if n < 0 {
		return fmt.Errorf("%w: Cond.Notify(%d)", ErrInvalidOption, n)
	}
	return c.wake(n)
}

// Broadcast wakes everything waiting on c: Python's notify_all().
func (c *Cond) Broadcast() error { return c.wake(math.MaxInt32) }

// wake hands out up to n tokens, one to each waiter not yet chosen, and wakes as many sleepers.
func (c *Cond) wake(n int) error {
	if err := c.s.check(); err != nil {
		return err
	}
	var k uint64
	for {
		v := atomic.LoadUint64(c.count)
		k = min(uint64(uint32(v)), uint64(n))
		if k == 0 {
			return nil
		}
		if atomic.CompareAndSwapUint64(c.count, v, v-k+k*condToken) {
			break
		}
	}
	atomic.AddUint32(c.seq, 1)
	futex.Wake(c.seq, int(k))
	return nil
}

// Close releases this process's hold on c (not on its Mutex).
func (c *Cond) Close() error { return c.s.close() }

// A Cond travels with its Mutex: two descriptors.
func (c *Cond) handleDupN() ([]int, string, error) {
	if c == nil {
		return nil, "", (*shared)(nil).check()
	}
	if c.L == nil {
		return nil, "", fmt.Errorf("%w: a Cond without its Mutex", ErrInvalidOption)
	}
	fd, meta, err := c.s.dup()
	if err != nil {
		return nil, "", err
	}
	mfd, _, err := c.L.s.dup()
	if err != nil {
		closeFD(fd)
		return nil, "", err
	}
	return []int{fd, mfd}, meta, nil
}

func (*Cond) handleAdoptN(fds []int, meta string) (any, error) {
	if len(fds) != 2 {
		closeFDs(fds)
		return nil, fmt.Errorf("a %q arrived with %d descriptors", meta, len(fds))
	}
	s, err := adoptShared(fds[0], meta, kindCond)
	if err != nil {
		closeFD(fds[1])
		return nil, err
	}
	ms, err := adoptShared(fds[1], kindNames[kindMutex], kindMutex)
	if err != nil {
		s.seg.Close()
		return nil, err
	}
	return newCond(s, newMutex(ms)), nil
}

// handleRelease lets go of a Cond just received that will not be delivered, with its Mutex.
func (c *Cond) handleRelease() {
	c.s.close()
	c.L.Close()
}

func (c *Cond) handleDup() (int, string, error) {
	return -1, "", fmt.Errorf("%w: a Cond travels with its Mutex", ErrInvalidOption)
}

func (*Cond) handleAdopt(fd int, meta string) (any, error) {
	closeFD(fd)
	return nil, fmt.Errorf("a %s arrived without its Mutex", meta)
}

// MarshalCBOR refuses to encode a Cond outside a task argument or a Conn's Send.
func (c *Cond) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindCond) }

// Barrier makes a fixed number of parties wait for each other: Python's
// multiprocessing.Barrier. Each Wait returns once all parties have called it, with the party's
// arrival index (0 for the first). The barrier then resets for the next round.
//
// A party whose Wait is cut short by its ctx breaks the barrier, as does a waiting party that dies
// (noticed within about 100 ms by the parties waiting, or at once by the last to arrive; a party
// is known by its pid and start time, so one whose pid was reused is still seen dead), Abort,
// or Reset while parties wait: every Wait then returns ErrBrokenBarrier (the one cut short wraps
// its ctx error too), until Reset.
type Barrier struct {
	s                              *shared
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
		s: s, lock: s.word64(barLock), arrived: s.word(barArrived), gen: s.word(barGen),
		broken: s.word(barBroken), resetGen: s.word(barResetGen), parties: p,
	}, s), nil
}

// Parties returns the number of parties the barrier waits for.
func (b *Barrier) Parties() int { return b.parties }

// Waiting returns the number of parties waiting now.
func (b *Barrier) Waiting() int {
	if b.s.check() != nil {
		return 0
	}
	return int(atomic.LoadUint32(b.arrived))
}

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken() bool { return b.s.check() == nil && atomic.LoadUint32(b.broken) != 0 }

// Wait waits until every party has called Wait, and returns this party's arrival index.
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	if err := b.s.check(); err != nil {
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
			return 0, b.s.check()
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
	if err := b.s.check(); err != nil {
		return err
	}
	b.breakIt()
	return nil
}

// Reset returns the barrier to its empty state; parties waiting now get ErrBrokenBarrier.
func (b *Barrier) Reset() error {
	if err := b.s.check(); err != nil {
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

// Close releases this process's hold on b.
func (b *Barrier) Close() error { return b.s.close() }

func (b *Barrier) handleDup() (int, string, error) {
	if b == nil {
		return -1, "", (*shared)(nil).check()
	}
	return b.s.dup()
}

func (*Barrier) handleAdopt(fd int, meta string) (any, error) {
	s, err := adoptShared(fd, meta, kindBarrier)
	if err != nil {
		return nil, err
	}
	return newBarrier(s)
}

// MarshalCBOR refuses to encode a Barrier outside a task argument or a Conn's Send.
func (b *Barrier) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR(kindBarrier) }
