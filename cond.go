package mp

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/sys"
)

// Cond is a condition variable shared by processes, over an mp.Mutex: Python's
// multiprocessing.Condition. A Cond handed to a child brings its Mutex along (as c.L); pass the
// Mutex too if the child needs it by itself — it arrives as the same mutex.
//
// Signal wakes one waiter and Notify(n) up to n, as Python's notify(n) does; Broadcast wakes all.
// Each wake-up is a token that one waiter takes, so a Signal never wakes more than one; which
// waiter takes it is not specified (it is usually one asleep at the time of the Signal, not
// necessarily the one waiting longest). Wakeups may still be spurious — a waiter that dies
// without taking its token leaves it to a later waiter — so wait in a loop that checks the
// condition. A Wait that begins after a Signal or Broadcast has returned never takes that
// wake-up: a goroutine that signals and then waits on the same Cond leaves the token to the
// waiter it meant to wake, as with sync.Cond.
//
// A Cond is safe for concurrent use by goroutines and processes. It is a handle (see the package
// doc): pass it to a child in a task or Process argument, or over a Conn (not on a Queue); it
// travels as two descriptors, its own and its Mutex's. Wait, Signal and Broadcast cost a few
// atomic operations, plus a futex system call when there is a sleeper to wake: two goroutines
// taking turns under the Mutex, each waking the other with Signal, make a round trip in about
// 13 µs on a 2-core Linux VM (BenchmarkCondPingPong). It takes one page of shared memory,
// besides its Mutex's.
type Cond struct {
	syncHandle
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

// NewCond makes a condition variable over m. A nil, zero or closed m is an error that matches
// both ErrInvalidOption and, as any use of such a handle does, ErrClosed.
func NewCond(m *Mutex) (*Cond, error) {
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: NewCond needs an open *mp.Mutex: %w", ErrInvalidOption, err)
	}
	s, err := newShared(kindCond, 0)
	if err != nil {
		return nil, err
	}
	return newCond(s, m), nil
}

func newCond(s *shared, m *Mutex) *Cond {
	return track(&Cond{syncHandle: syncHandle{s}, seq: s.word(condSeq), count: s.word64(condCount), L: m}, s)
}

// Wait unlocks c.L, waits for a Signal, Notify or Broadcast (or for ctx to end), and locks c.L
// again before returning, also when it returns ctx's error. c.L must be locked on entry. A dead
// previous owner of c.L is reported as ErrOwnerDead, with c.L locked. A Wait whose ctx ends just
// as a wake-up chooses it returns nil, so that the wake-up is not lost.
func (c *Cond) Wait(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	// The wake-ups made before this Wait are not for it: it takes a token only once seq has moved
	// on from what it is now, so that a goroutine that Signals and then Waits does not take back
	// the token it has just handed out.
	since := atomic.LoadUint32(c.seq)
	atomic.AddUint64(c.count, 1) // before Unlock: a Signal made under c.L after it counts this waiter
	c.L.Unlock()
	woken := false
	for {
		seq := atomic.LoadUint32(c.seq) // before looking for a token: a wake-up after it changes seq
		if seq != since && c.takeToken() {
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
		if err := c.check(); err != nil {
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
	if err := c.check(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%w: Cond.Notify(%d)", ErrInvalidOption, n)
	}
	return c.wake(n)
}

// Broadcast wakes everything waiting on c: Python's notify_all().
func (c *Cond) Broadcast() error { return c.wake(math.MaxInt32) }

// wake hands out up to n tokens, one to each waiter not yet chosen, and wakes as many sleepers.
func (c *Cond) wake(n int) error {
	if err := c.check(); err != nil {
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

// Close releases this process's hold on c (not on its Mutex): its descriptor now, its page of
// memory once c is garbage. A Wait of this process that is waiting returns, with c.L locked, an
// error wrapping ErrClosed. Close is idempotent, and does nothing on a nil Cond.
func (c *Cond) Close() error {
	if c == nil {
		return nil
	}
	return c.s.close()
}

// check returns the error of a method called on c when c is nil, zero or closed; a Cond whose L
// was set to nil counts as zero.
func (c *Cond) check() error {
	if c == nil {
		return (*shared)(nil).check(kindCond)
	}
	if err := c.s.check(kindCond); err != nil {
		return err
	}
	if c.L == nil {
		return fmt.Errorf("%w: a *mp.Cond without a Mutex (its L is nil); make it with mp.NewCond", ErrClosed)
	}
	return nil
}

// handleDup implements handle: a Cond travels with its Mutex, as two descriptors.
func (c *Cond) handleDup() ([]int, string, error) {
	if err := c.check(); err != nil {
		return nil, "", err
	}
	fd, meta, err := c.s.dup(kindCond)
	if err != nil {
		return nil, "", err
	}
	mfd, _, err := c.L.s.dup(kindMutex)
	if err != nil {
		sys.CloseFD(fd)
		return nil, "", err
	}
	return []int{fd, mfd}, meta, nil
}

func (*Cond) handleAdopt(fds []int, meta string) (any, error) {
	if len(fds) != 2 {
		closeFDs(fds)
		return nil, fmt.Errorf("a %q arrived with %d descriptors; a Cond travels with its Mutex", meta, len(fds))
	}
	s, err := adoptShared(fds[0], meta, kindCond)
	if err != nil {
		sys.CloseFD(fds[1])
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
