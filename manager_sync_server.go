package mp

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// The server side of the managed synchronisation objects (Queue, JoinableQueue, Mutex,
// Semaphore, Event, Cond, Barrier).
//
// A call that cannot complete now (a Lock of a held mutex, a Get of an empty queue, ...) does
// not block the connection's goroutine: it becomes a waiter on its object, keeping its request
// id, and the operation that satisfies it (an Unlock, a Put, ...) grants it and queues its reply.
// The connection goes on serving its other requests meanwhile, so many goroutines of a process
// wait on one connection. Replies to waiters are written by a sender goroutine of the waiter's
// connection, so that a client that reads slowly holds up no one else.
//
// A client whose call's ctx ends sends managerOpCancel with the request's id: a waiter still
// waiting is withdrawn and answered with context.Canceled; one already granted has had its reply
// sent, which the client then takes (nothing is lost or held by nobody). Exactly one reply
// answers every blocking request.
//
// Locks and permits are held by connections, that is by processes: a connection that ends
// releases what it held, and the next acquirer is told so with ErrOwnerDead.

// Operations on managed synchronisation objects (beside the others of manager_wire.go).
const (
	managerOpCancel       = 0x40 + iota // Rev: the id of this connection's request to withdraw (no reply)
	managerOpLock                       // Obj N(1: try) → OK (locked)
	managerOpUnlock                     // Obj
	managerOpLocked                     // Obj → OK
	managerOpAcquire                    // Obj N(permits) Rev(1: try) → OK
	managerOpSemRelease                 // Obj N(permits)
	managerOpSemValue                   // Obj → N
	managerOpEventSet                   // Obj
	managerOpEventClear                 // Obj
	managerOpEventIsSet                 // Obj → OK
	managerOpEventWait                  // Obj
	managerOpCondWait                   // Obj
	managerOpCondNotify                 // Obj N(how many; -1: all)
	managerOpBarrierWait                // Obj → N (arrival index)
	managerOpBarrierAbort               // Obj
	managerOpBarrierReset               // Obj
	managerOpBarrierState               // Obj → N (parties) Rev (waiting) OK (broken)
	managerOpQPut                       // Obj Val N(1: try)
	managerOpQGet                       // Obj N(1: try) → Val
	managerOpQLen                       // Obj → N (values) Rev (unfinished)
	managerOpQShutdown                  // Obj
	managerOpQIsShutdown                // Obj → OK
	managerOpQTaskDone                  // Obj
	managerOpQJoin                      // Obj
)

// managedQueueMaxItem bounds one value on a managed queue (its encoding).
const managedQueueMaxItem = 1 << 20

// managedQueueDefaultCap is the capacity of a managed queue made with capacity 0.
const managedQueueDefaultCap = 4096

// managerMaxWaiting bounds, per connection, the calls waiting in the manager (blocking calls of
// synchronisation objects) and, separately, the methods of custom objects running for it, so
// that no client can make the server hold without bound: beyond, a call is refused at once with
// an ErrTooLarge error.
const managerMaxWaiting = 4096

// errDeferred is do's answer for a request that waits: its reply comes later.
var errDeferred = errors.New("mp: manager: reply deferred")

// Kinds of synchronisation objects.
const (
	queueKind     = "queue"
	jqueueKind    = "joinablequeue"
	mutexKind     = "mutex"
	semaphoreKind = "semaphore"
	eventKind     = "event"
	condKind      = "cond"
	barrierKind   = "barrier"
)

// mwaiter is a request waiting in the server.
type mwaiter struct {
	c         *mconn
	id        uint64 // the request's id, for its reply
	op        byte
	o         *msync // where it waits now
	n         int64  // permits wanted
	item      *mentry
	cancelled bool // a Cond waiter withdrawn: it returns context.Canceled once it has the lock
}

// msync is the state of a synchronisation object.
type msync struct {
	kind    string
	waiters []*mwaiter // lockers, acquirers, getters, event, cond or barrier waiters
	refs    []uint64   // objects it keeps alive (a Cond: its mutex)

	// mutex
	locked    bool
	owner     *mconn
	ownerDead bool
	// semaphore
	permits, initial int64
	bounded          bool
	held             map[*mconn]int64
	semDead          bool
	// event
	set bool
	// cond
	mu *msync
	// barrier
	parties int
	broken  bool
	// queue
	items      []*mentry
	cap        int
	shut       bool
	putters    []*mwaiter
	joiners    []*mwaiter
	unfinished int64
	taken      map[*mconn]int64
	lost       int64
}

// msyncConn is a connection's part in the synchronisation objects.
type msyncConn struct {
	cur   uint64              // the id of the request being served (under mconn.busy)
	waits map[uint64]*mwaiter // its waiters, under the server's lock
	owns  map[*msync]bool     // the objects it has locked, taken permits or values of (ditto)

	omu     sync.Mutex
	out     []mout
	sending bool
}

type mout struct {
	id  uint64
	op  byte
	rep []byte
}

// createSync makes the state of a synchronisation object of kind; it is given its parameters
// in req (N, Rev, Obj).
func (s *managerServer) createSync(kind string, req *mreq) (*msync, error) {
	y := &msync{kind: kind}
	switch kind {
	case queueKind, jqueueKind:
		if req.N < 0 || req.N > 1<<20 {
			return nil, fmt.Errorf("%w: a managed queue of capacity %d (0 to %d)", ErrInvalidOption, req.N, 1<<20)
		}
		y.cap = int(req.N)
		if y.cap == 0 {
			y.cap = managedQueueDefaultCap
		}
		y.taken = map[*mconn]int64{}
	case semaphoreKind:
		if req.N < 0 {
			return nil, fmt.Errorf("%w: a managed semaphore of %d permits", ErrInvalidOption, req.N)
		}
		y.permits, y.initial, y.bounded = req.N, req.N, req.Rev == 1
		y.held = map[*mconn]int64{}
	case barrierKind:
		if req.N < 1 || req.N > 1<<20 {
			return nil, fmt.Errorf("%w: a managed barrier of %d parties (1 to %d)", ErrInvalidOption, req.N, 1<<20)
		}
		y.parties = int(req.N)
	case condKind:
		mo := s.objs[req.Obj]
		if mo == nil || mo.syn == nil || mo.syn.kind != mutexKind {
			return nil, fmt.Errorf("%w: a managed Cond needs a managed Mutex of the same manager", ErrInvalidOption)
		}
		mo.refs++
		y.mu, y.refs = mo.syn, []uint64{req.Obj}
	}
	return y, nil
}

// reply queues the reply to waiter w (sent once the lock is let go: see flush).
func (s *managerServer) reply(w *mwaiter, rep *mrep) {
	if w.c.sy.waits != nil {
		delete(w.c.sy.waits, w.id)
	}
	s.out = append(s.out, moutTo{c: w.c, id: w.id, op: w.op, rep: rep})
}

func (s *managerServer) replyErr(w *mwaiter, err error) { s.reply(w, &mrep{Err: toWire(err)}) }

type moutTo struct {
	c   *mconn
	id  uint64
	op  byte
	rep *mrep
}

// unlockFlush lets go of the server's lock and sends the replies the operations under it
// queued, each by its connection's sender.
func (s *managerServer) unlockFlush() {
	out := s.out
	s.out = nil
	s.mu.Unlock()
	for _, o := range out {
		if o.c.t == nil {
			continue // a connection without a transport: the fuzz target's
		}
		b, err := encodeManagerMsg(o.rep)
		if err != nil {
			b, _ = encodeManagerMsg(&mrep{Err: toWire(err)})
		}
		o.c.sy.omu.Lock()
		o.c.sy.out = append(o.c.sy.out, mout{id: o.id, op: o.op, rep: b})
		if !o.c.sy.sending {
			o.c.sy.sending = true
			go o.c.sendOut()
		}
		o.c.sy.omu.Unlock()
	}
}

// sendOut writes the connection's queued replies, and ends when there are none.
func (c *mconn) sendOut() {
	for {
		c.sy.omu.Lock()
		out := c.sy.out
		c.sy.out = nil
		if len(out) == 0 {
			c.sy.sending = false
			c.sy.omu.Unlock()
			return
		}
		c.sy.omu.Unlock()
		for _, o := range out {
			if c.t.send(o.id, o.op, o.rep) != nil {
				break // the connection is ending: its reader sees it
			}
		}
	}
}

// wait makes the request being served a waiter on y.
func (s *managerServer) wait(c *mconn, op byte, y *msync, list *[]*mwaiter, w *mwaiter) error {
	w.c, w.id, w.op, w.o = c, c.sy.cur, op, y
	if w.id == 0 {
		return fmt.Errorf("%w: a blocking managed call without a request id", ErrProtocol)
	}
	if len(c.sy.waits) >= managerMaxWaiting {
		return fmt.Errorf("%w: %d calls of this process are waiting in the manager already, the most it holds for one connection (a Lock, a Get of an empty queue, a Wait...); this one was refused, not queued: wait for fewer at once (a worker pool, a semaphore of your own)", ErrTooLarge, len(c.sy.waits))
	}
	if c.sy.waits == nil {
		c.sy.waits = map[uint64]*mwaiter{}
	}
	c.sy.waits[w.id] = w
	*list = append(*list, w)
	return errDeferred
}

func (sc *msyncConn) own(y *msync) {
	if sc.owns == nil {
		sc.owns = map[*msync]bool{}
	}
	sc.owns[y] = true
}

func removeWaiter(list *[]*mwaiter, w *mwaiter) bool {
	for i, x := range *list {
		if x == w {
			*list = append((*list)[:i], (*list)[i+1:]...)
			return true
		}
	}
	return false
}

func (s *managerServer) doSync(c *mconn, o *mobj, op byte, req *mreq, rep *mrep) error {
	y := o.syn
	bad := func() error { return fmt.Errorf("%w: operation %d on a managed %s", ErrProtocol, op, y.kind) }
	switch y.kind {
	case mutexKind:
		switch op {
		case managerOpLock:
			if !y.locked || y.ownerDead {
				return s.grantLock(y, c, rep)
			}
			if req.N == 1 {
				return nil // rep.OK false: TryLock failed
			}
			return s.wait(c, op, y, &y.waiters, &mwaiter{})
		case managerOpUnlock:
			if !y.locked {
				return fmt.Errorf("%w: Unlock of an unlocked managed Mutex", ErrNotHeld)
			}
			s.unlockMutex(y)
		case managerOpLocked:
			rep.OK = y.locked
		default:
			return bad()
		}
	case semaphoreKind:
		switch op {
		case managerOpAcquire:
			if req.N < 0 {
				return fmt.Errorf("%w: Acquire of %d permits", ErrInvalidOption, req.N)
			}
			if len(y.waiters) == 0 && y.permits >= req.N {
				return s.grantPermits(y, c, req.N, rep)
			}
			if req.Rev == 1 {
				return nil
			}
			if y.bounded && req.N > y.initial {
				return fmt.Errorf("%w: Acquire of %d permits from a bounded managed semaphore of %d", ErrInvalidOption, req.N, y.initial)
			}
			return s.wait(c, op, y, &y.waiters, &mwaiter{n: req.N})
		case managerOpSemRelease:
			if req.N < 0 {
				return fmt.Errorf("%w: Release of %d permits", ErrInvalidOption, req.N)
			}
			if y.bounded && y.permits+req.N > y.initial {
				return fmt.Errorf("%w: Release of %d permits would make a bounded managed semaphore hold %d, more than its %d", ErrNotHeld, req.N, y.permits+req.N, y.initial)
			}
			y.permits += req.N
			if h := min(y.held[c], req.N); h > 0 {
				if y.held[c] -= h; y.held[c] == 0 {
					delete(y.held, c)
				}
			}
			s.wakeSemaphore(y)
		case managerOpSemValue:
			rep.N = y.permits
		default:
			return bad()
		}
	case eventKind:
		switch op {
		case managerOpEventSet:
			y.set = true
			for _, w := range y.waiters {
				s.reply(w, &mrep{OK: true})
			}
			y.waiters = nil
		case managerOpEventClear:
			y.set = false
		case managerOpEventIsSet:
			rep.OK = y.set
		case managerOpEventWait:
			if y.set {
				rep.OK = true
				return nil
			}
			return s.wait(c, op, y, &y.waiters, &mwaiter{})
		default:
			return bad()
		}
	case condKind:
		switch op {
		case managerOpCondWait:
			if !y.mu.locked || y.mu.ownerDead {
				return fmt.Errorf("%w: Wait on a managed Cond whose Mutex is not locked", ErrNotHeld)
			}
			s.unlockMutex(y.mu)
			return s.wait(c, op, y, &y.waiters, &mwaiter{})
		case managerOpCondNotify:
			n := int(req.N)
			if n < 0 || n > len(y.waiters) {
				n = len(y.waiters)
			}
			for _, w := range y.waiters[:n] {
				s.toMutex(w, y.mu)
			}
			y.waiters = append([]*mwaiter(nil), y.waiters[n:]...)
		default:
			return bad()
		}
	case barrierKind:
		switch op {
		case managerOpBarrierWait:
			if y.broken {
				return fmt.Errorf("%w: Wait on a broken managed Barrier", ErrBrokenBarrier)
			}
			if len(y.waiters)+1 < y.parties {
				return s.wait(c, op, y, &y.waiters, &mwaiter{})
			}
			for i, w := range y.waiters {
				s.reply(w, &mrep{N: int64(i)})
			}
			y.waiters = nil
			rep.N = int64(y.parties - 1)
		case managerOpBarrierAbort:
			s.breakBarrier(y, true)
		case managerOpBarrierReset:
			s.breakBarrier(y, false)
		case managerOpBarrierState:
			rep.N, rep.Rev, rep.OK = int64(y.parties), uint64(len(y.waiters)), y.broken
		default:
			return bad()
		}
	case queueKind, jqueueKind:
		return s.doQueue(c, y, op, req, rep)
	default:
		return bad()
	}
	return nil
}

// grantLock gives the mutex to c, reporting a dead previous owner.
func (s *managerServer) grantLock(y *msync, c *mconn, rep *mrep) error {
	dead := y.ownerDead
	y.locked, y.owner, y.ownerDead = true, c, false
	c.sy.own(y)
	rep.OK = true
	if dead {
		return fmt.Errorf("%w: a managed Mutex (the process that held it died; this caller holds it now)", ErrOwnerDead)
	}
	return nil
}

// unlockMutex unlocks y, giving it to its first waiter if there is one.
func (s *managerServer) unlockMutex(y *msync) {
	y.locked, y.owner, y.ownerDead = false, nil, false
	s.wakeMutex(y)
}

func (s *managerServer) wakeMutex(y *msync) {
	if (y.locked && !y.ownerDead) || len(y.waiters) == 0 {
		return
	}
	w := y.waiters[0]
	y.waiters = y.waiters[1:]
	rep := &mrep{}
	if err := s.grantLock(y, w.c, rep); err != nil {
		rep.Err = toWire(err)
	} else if w.cancelled {
		rep.Err = toWire(context.Canceled)
	}
	s.reply(w, rep)
}

// toMutex moves a Cond waiter to its mutex: it is answered once it holds it again.
func (s *managerServer) toMutex(w *mwaiter, mu *msync) {
	w.o = mu
	mu.waiters = append(mu.waiters, w)
	s.wakeMutex(mu)
}

func (s *managerServer) grantPermits(y *msync, c *mconn, n int64, rep *mrep) error {
	y.permits -= n
	if n > 0 {
		y.held[c] += n
		c.sy.own(y)
	}
	rep.OK = true
	if y.semDead {
		y.semDead = false
		return fmt.Errorf("%w: a managed Semaphore (a process died holding permits, which were returned; this caller has its permits)", ErrOwnerDead)
	}
	return nil
}

// wakeSemaphore grants waiters in order while there are permits enough for the first.
func (s *managerServer) wakeSemaphore(y *msync) {
	for len(y.waiters) > 0 && y.permits >= y.waiters[0].n {
		w := y.waiters[0]
		y.waiters = y.waiters[1:]
		rep := &mrep{}
		if err := s.grantPermits(y, w.c, w.n, rep); err != nil {
			rep.Err = toWire(err)
		}
		s.reply(w, rep)
	}
}

// breakBarrier fails every waiting party with ErrBrokenBarrier; abort leaves it broken, a reset
// whole again.
func (s *managerServer) breakBarrier(y *msync, abort bool) {
	why := "reset"
	if abort {
		why = "aborted"
	}
	for _, w := range y.waiters {
		s.replyErr(w, fmt.Errorf("%w: the managed Barrier was %s", ErrBrokenBarrier, why))
	}
	y.waiters = nil
	y.broken = abort
}

func (s *managerServer) doQueue(c *mconn, y *msync, op byte, req *mreq, rep *mrep) error {
	joinOp := op == managerOpQTaskDone || op == managerOpQJoin
	if joinOp && y.kind != jqueueKind {
		return fmt.Errorf("%w: operation %d on a managed %s", ErrProtocol, op, y.kind)
	}
	switch op {
	case managerOpQPut:
		if y.shut {
			return fmt.Errorf("%w: Put on a managed queue that was shut down", ErrClosed)
		}
		if len(req.Val) > managedQueueMaxItem {
			return fmt.Errorf("%w: a value of %d bytes for a managed queue (at most %d)", ErrTooLarge, len(req.Val), managedQueueMaxItem)
		}
		if len(y.items) >= y.cap && req.N == 1 {
			return fmt.Errorf("%w: a managed queue of capacity %d", ErrQueueFull, y.cap)
		}
		e, err := s.newEntry(req.Val)
		if err != nil {
			return err
		}
		if len(y.items) < y.cap {
			s.enqueue(y, e)
			return nil
		}
		return s.wait(c, op, y, &y.putters, &mwaiter{item: e})
	case managerOpQGet:
		if len(y.items) > 0 {
			s.dequeue(c, y, rep)
			return nil
		}
		if y.shut {
			return fmt.Errorf("%w: Get on a managed queue that was shut down and is empty", ErrClosed)
		}
		if req.N == 1 {
			return fmt.Errorf("%w: a managed queue", ErrQueueEmpty)
		}
		return s.wait(c, op, y, &y.waiters, &mwaiter{})
	case managerOpQLen:
		rep.N, rep.Rev = int64(len(y.items)), uint64(y.unfinished)
	case managerOpQShutdown:
		if !y.shut {
			y.shut = true
			for _, w := range y.waiters {
				s.replyErr(w, fmt.Errorf("%w: the managed queue was shut down", ErrClosed))
			}
			for _, w := range y.putters {
				s.dropEntry(w.item)
				s.replyErr(w, fmt.Errorf("%w: the managed queue was shut down", ErrClosed))
			}
			y.waiters, y.putters = nil, nil
		}
	case managerOpQIsShutdown:
		rep.OK = y.shut
	case managerOpQTaskDone:
		if y.unfinished-y.lost <= 0 {
			return fmt.Errorf("%w: TaskDone called more times than values were got from a managed JoinableQueue", ErrNotHeld)
		}
		y.unfinished--
		if y.taken[c] > 0 {
			if y.taken[c]--; y.taken[c] == 0 {
				delete(y.taken, c)
			}
		}
		s.wakeJoiners(y)
	case managerOpQJoin:
		if y.unfinished == 0 {
			return nil
		}
		err := s.wait(c, op, y, &y.joiners, &mwaiter{})
		s.wakeJoiners(y)
		return err
	}
	return nil
}

// enqueue stores e at the end of y, or hands it to the first getter.
func (s *managerServer) enqueue(y *msync, e *mentry) {
	y.unfinished++
	y.items = append(y.items, e)
	if len(y.waiters) > 0 {
		w := y.waiters[0]
		y.waiters = y.waiters[1:]
		rep := &mrep{}
		s.dequeue(w.c, y, rep)
		s.reply(w, rep)
	}
}

// dequeue takes the oldest value of y for c, and lets the first waiting putter in.
func (s *managerServer) dequeue(c *mconn, y *msync, rep *mrep) {
	e := y.items[0]
	y.items[0] = nil
	y.items = y.items[1:]
	s.attach(c, e)
	s.dropEntry(e)
	rep.Val, rep.OK = e.val, true
	if y.kind == jqueueKind {
		y.taken[c]++
		c.sy.own(y)
	}
	if len(y.putters) > 0 && len(y.items) < y.cap {
		w := y.putters[0]
		y.putters = y.putters[1:]
		s.enqueue(y, w.item)
		s.reply(w, &mrep{OK: true})
	}
	if len(y.items) == 0 {
		s.wakeJoiners(y)
	}
}

// wakeJoiners answers the joiners once every value is done, or once every value left unfinished
// is held by a dead process and none is left in the queue (they are written off).
func (s *managerServer) wakeJoiners(y *msync) {
	if len(y.joiners) == 0 {
		return
	}
	var err error
	switch {
	case y.unfinished == 0:
	case len(y.items) == 0 && y.lost > 0 && y.unfinished == y.lost:
		err = fmt.Errorf("%w: %d values of a managed JoinableQueue were taken by processes that died before TaskDone (written off)", ErrOwnerDead, y.lost)
		y.unfinished, y.lost = 0, 0
	default:
		return
	}
	for _, w := range y.joiners {
		rep := &mrep{}
		if err != nil {
			rep.Err = toWire(err)
		}
		s.reply(w, rep)
	}
	y.joiners = nil
}

// cancelWait withdraws c's waiting request id, if it still waits.
func (s *managerServer) cancelWait(c *mconn, id uint64) {
	w := c.sy.waits[id]
	if w == nil {
		return // answered already (its reply is on its way), or never waited
	}
	y := w.o
	switch {
	case y.kind == condKind:
		removeWaiter(&y.waiters, w)
		w.cancelled = true
		s.toMutex(w, y.mu) // Wait returns with the mutex locked, also when cut short
		return
	case w.op == managerOpCondWait:
		return // it is taking its mutex back: that it must do
	case w.op == managerOpQPut:
		removeWaiter(&y.putters, w)
		s.dropEntry(w.item)
	case w.op == managerOpQJoin:
		removeWaiter(&y.joiners, w)
	default:
		removeWaiter(&y.waiters, w)
	}
	s.replyErr(w, context.Canceled)
	switch y.kind {
	case barrierKind:
		// As a local Barrier: a party cut short breaks it for the others.
		for _, o := range y.waiters {
			s.replyErr(o, fmt.Errorf("%w: a party's Wait on the managed Barrier was cut short by its ctx", ErrBrokenBarrier))
		}
		y.waiters, y.broken = nil, true
	case semaphoreKind:
		s.wakeSemaphore(y) // a big request withdrawn may let smaller ones behind it in
	}
}

// syncConnGone lets go of what the ending connection c held and waited for: its waiters are
// withdrawn (unanswered), its mutexes and permits released with their next taker told
// (ErrOwnerDead), the barriers it waited at broken, and the queue values it took and did not
// mark done counted as lost.
func (s *managerServer) syncConnGone(c *mconn) {
	for _, w := range c.sy.waits {
		y := w.o
		switch {
		case w.op == managerOpQPut:
			removeWaiter(&y.putters, w)
			s.dropEntry(w.item)
		case w.op == managerOpQJoin:
			removeWaiter(&y.joiners, w)
		default:
			removeWaiter(&y.waiters, w)
		}
		if y.kind == barrierKind {
			for _, o := range y.waiters {
				if o.c != c {
					s.replyErr(o, fmt.Errorf("%w: a party waiting at the managed Barrier died", ErrBrokenBarrier))
				}
			}
			y.waiters, y.broken = nil, true
		}
	}
	c.sy.waits = nil
	for y := range c.sy.owns {
		switch y.kind {
		case mutexKind:
			if y.locked && y.owner == c {
				y.owner, y.ownerDead = nil, true
				s.wakeMutex(y)
			}
		case semaphoreKind:
			if h := y.held[c]; h > 0 {
				delete(y.held, c)
				y.permits += h
				y.semDead = true
				s.wakeSemaphore(y)
			}
		case jqueueKind:
			if t := y.taken[c]; t > 0 {
				delete(y.taken, c)
				y.lost += t
				s.wakeJoiners(y)
			}
		}
	}
}

// syncFree fails the waiters of a synchronisation object being freed (every proxy to it was
// closed while they waited) and returns the objects it kept alive.
func (s *managerServer) syncFree(y *msync) []uint64 {
	err := fmt.Errorf("%w: the managed %s was closed (every proxy to it) while this call waited", ErrClosed, y.kind)
	for _, list := range [][]*mwaiter{y.waiters, y.putters, y.joiners} {
		for _, w := range list {
			if w.item != nil {
				s.dropEntry(w.item)
			}
			s.replyErr(w, err)
		}
	}
	for _, e := range y.items {
		s.dropEntry(e)
	}
	y.waiters, y.putters, y.joiners, y.items = nil, nil, nil, nil
	return y.refs
}
