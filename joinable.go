package mp

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mp-go/mp/internal/futex"
	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/sys"
)

// JoinableQueue is a Queue that also counts the values processed: Python's JoinableQueue. Every
// value put must be matched by a TaskDone call, and Join waits until all are. It is safe for
// concurrent use, passed to children as a Queue is (a JoinableQueue may arrive where a *Queue is
// expected), and follows the Queue's rules for Close and Shutdown.
//
// Unlike Python's, a JoinableQueue notices consumers that die between Get and TaskDone: it
// records how many values each process (known by its pid and start time) has taken and not yet
// marked done, and Join returns an error matching ErrOwnerDead, within about 200 ms, once every
// unfinished value is held by a process that has died (see Join). This assumes that each value's
// TaskDone is called in the process that took it with Get, as is usual. Values may be marked done
// in another process (Join returns once all are, as always), but the process that took them then
// counts as holding them: if it dies while another still works on them, Join reports them lost,
// and their TaskDone after that counts for another value (or panics, as one too many, if there is
// none). The bookkeeping costs Get and TaskDone one more atomic operation each; it covers up to 192
// consumer processes at a time (more are counted together, as live, and Join waits for their
// values as Python's does).
type JoinableQueue[T any] struct {
	q Queue[T]
}

// NewJoinableQueue makes a JoinableQueue, as NewQueue makes a Queue.
func NewJoinableQueue[T any](capacity int, opts ...QueueOption) (*JoinableQueue[T], error) {
	if err := checkElemType[T]("NewJoinableQueue"); err != nil {
		return nil, err
	}
	r, err := makeRing(capacity, true, opts)
	if err != nil {
		return nil, err
	}
	return newJoinable[T](r), nil
}

func newJoinable[T any](r *ring) *JoinableQueue[T] {
	q := &JoinableQueue[T]{Queue[T]{r: r}}
	runtime.AddCleanup(q, (*ring).drop, r)
	return q
}

// exit ends a call on q that entered r, keeping q reachable until then (see Queue.exit).
func (q *JoinableQueue[T]) exit(r *ring) { r.exit() }

// enter starts a call on q, as Queue.enter does, naming the JoinableQueue in its errors.
func (q *JoinableQueue[T]) enter() (*ring, error) {
	if q == nil || q.q.r == nil {
		return nil, zeroUse("*mp.JoinableQueue", "mp.NewJoinableQueue")
	}
	return q.q.enter()
}

// queue returns q's Queue for a method that delegates to it, with the error of a nil or zero q.
func (q *JoinableQueue[T]) queue() (*Queue[T], error) {
	if q == nil || q.q.r == nil {
		return nil, zeroUse("*mp.JoinableQueue", "mp.NewJoinableQueue")
	}
	return &q.q, nil
}

// Put puts v on the queue, as Queue.Put does; it must be matched by a TaskDone.
func (q *JoinableQueue[T]) Put(ctx context.Context, v T) error {
	qq, err := q.queue()
	if err != nil {
		return err
	}
	return qq.Put(ctx, v)
}

// TryPut puts v on the queue if there is room now, as Queue.TryPut does.
func (q *JoinableQueue[T]) TryPut(v T) error {
	qq, err := q.queue()
	if err != nil {
		return err
	}
	return qq.TryPut(v)
}

// Get takes the oldest value from the queue, as Queue.Get does; mark it done with TaskDone.
func (q *JoinableQueue[T]) Get(ctx context.Context) (T, error) {
	qq, err := q.queue()
	if err != nil {
		var zero T
		return zero, err
	}
	return qq.Get(ctx)
}

// TryGet takes the oldest value if there is one now, as Queue.TryGet does.
func (q *JoinableQueue[T]) TryGet() (T, error) {
	qq, err := q.queue()
	if err != nil {
		var zero T
		return zero, err
	}
	return qq.TryGet()
}

// Len returns the number of values in the queue, as Queue.Len does.
func (q *JoinableQueue[T]) Len() int {
	qq, err := q.queue()
	mustOpen(err)
	return qq.Len()
}

// Cap returns the queue's item limit, 0 for none.
func (q *JoinableQueue[T]) Cap() int {
	qq, err := q.queue()
	mustOpen(err)
	return qq.Cap()
}

// Stats returns the queue's length, capacity and counts of values put and got, as Queue.Stats
// does.
func (q *JoinableQueue[T]) Stats() QueueStats {
	qq, err := q.queue()
	mustOpen(err)
	return qq.Stats()
}

// Shutdown shuts the queue down for every process, as Queue.Shutdown does.
func (q *JoinableQueue[T]) Shutdown() error {
	qq, err := q.queue()
	if err != nil {
		return err
	}
	return qq.Shutdown()
}

// IsShutdown reports whether the queue has been shut down (by any process).
func (q *JoinableQueue[T]) IsShutdown() bool {
	qq, err := q.queue()
	mustOpen(err)
	return qq.IsShutdown()
}

// Close releases this process's handle on the queue, as Queue.Close does; the queue goes on for
// the others. Close is idempotent, and does nothing on a nil JoinableQueue.
func (q *JoinableQueue[T]) Close() error {
	if q == nil {
		return nil
	}
	return q.q.Close()
}

// String describes the queue: "mp.JoinableQueue[int](len 3, cap 10, unfinished 4)".
func (q *JoinableQueue[T]) String() string {
	name := fmt.Sprintf("mp.JoinableQueue[%v]", reflect.TypeFor[T]())
	r, err := q.enter()
	if err != nil {
		if q == nil || q.q.r == nil {
			return name + "(nil)"
		}
		return name + "(closed)"
	}
	defer q.exit(r)
	s := fmt.Sprintf("%s(len %d, cap %d, unfinished %d", name, r.length(), r.capacity, r.unfinished())
	if r.isClosed() {
		s += ", shut down"
	}
	return s + ")"
}

// TaskDone marks one value taken from the queue as processed: Python's task_done. It panics when
// called more times than values were put, as Python raises ValueError.
func (q *JoinableQueue[T]) TaskDone() {
	r, err := q.enter()
	mustOpen(err)
	defer q.exit(r)
	if !r.taskDone() {
		panic("mp: JoinableQueue.TaskDone called more times than there were items put")
	}
}

// Join waits until every value ever put has been marked processed with TaskDone, or ctx ends:
// Python's join.
//
// Values taken by processes that died before marking them done will never be: once the queue is
// empty and every unfinished value is held by a dead process, Join writes those values off — they
// count as done from then on, so Unfinished drops by them and a later Join waits only for values
// put since — and returns an error matching ErrOwnerDead that says how many were lost. It notices
// within about 200 ms of the last death (at once if the queue is shut down then). Every Join waiting
// at the time returns that error; a value taken by a process killed inside Get, before the value
// reached it, is counted among them. While values are left in the queue, Join waits for them (it
// cannot know whether some process will still Get them), even when every consumer has died: bound
// it with ctx.
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	r, err := q.enter()
	if err != nil {
		return err
	}
	defer q.exit(r)
	return r.join(ctx)
}

// Unfinished returns the number of values put and not yet marked with TaskDone (nor written off
// by Join as lost with a dead consumer).
func (q *JoinableQueue[T]) Unfinished() int {
	r, err := q.enter()
	mustOpen(err)
	defer q.exit(r)
	return r.unfinished()
}

// handleDup implements handle: one descriptor, the buffer's.
func (q *JoinableQueue[T]) handleDup() ([]int, string, error) { return dupRing(q.enter, joinableMeta) }

func (*JoinableQueue[T]) handleAdopt(fds []int, meta string) (any, error) {
	fd := firstFD(fds)
	if meta != joinableMeta {
		sys.CloseFD(fd)
		return nil, fmt.Errorf("a %q arrived where the receiver has a *mp.JoinableQueue", meta)
	}
	r, err := adoptRing(fd, meta)
	if err != nil {
		return nil, err
	}
	return newJoinable[T](r), nil
}

// handleRelease lets go of a queue just received that will not be delivered.
func (q *JoinableQueue[T]) handleRelease() { q.Close() }

// MarshalCBOR refuses to encode a JoinableQueue with the cbor package: it is a handle, and
// handles travel only as descriptors, in a task argument, a Process argument or a Conn's Send.
func (q *JoinableQueue[T]) MarshalCBOR() ([]byte, error) {
	return nil, refuseCBOR("*mp.JoinableQueue")
}

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
