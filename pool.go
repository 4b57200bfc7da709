package mp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/wire"
)

// ErrWorkerDied is matched (errors.Is) by the error of a task whose worker died while running it:
// an *ExitError with the worker's pid and exit status. The pool replaces the worker; other tasks
// are not affected.
var ErrWorkerDied = RegisterError("mp.worker_died", errors.New("mp: pool worker died"))

// ErrBrokenPool is returned for every task of a pool that cannot keep workers alive: workers
// failed to start (or their initializer failed) three times in a row, or died again and again
// without finishing a task.
var ErrBrokenPool = RegisterError("mp.broken_pool", errors.New("mp: pool is broken"))

// ErrResultLost is matched by the error of a task whose function returned in its worker, but whose
// worker died before the result reached the pool: the work was done (and is not run again), its
// result is gone. It is rare — the worker must die in the moment between the function's return and
// the write of its reply — and it does not match ErrWorkerDied, so that code that retries on a
// worker's death never runs such a task twice.
var ErrResultLost = RegisterError("mp.result_lost", errors.New("mp: the task ran, but its worker died before its result was sent"))

// Pool is a set of worker processes that run registered functions: Python's multiprocessing.Pool
// and concurrent.futures.ProcessPoolExecutor as one type. Workers start once and are reused; tasks
// go to them through their control sockets, several at a time, and come back in order.
//
// Use the package functions to run work on a pool: Apply, Submit (a *Future), Map, MapSeq and
// MapSeqUnordered. End it with Shutdown (let queued work finish) or Close (stop now); after either,
// every call fails with ErrClosed.
//
// Tasks wait in one queue in the parent; a worker takes a task when it has room, and a worker that
// falls idle takes back tasks that wait behind a busy one, so no task waits for a busy worker while
// another is idle. A task's result is sent the moment its function returns.
//
// A dead worker fails exactly the task it was running, with an error matching ErrWorkerDied (unless
// WithRetries asks for another attempt); a task whose function had returned is never run again and
// never reported as died, and tasks sent to it that had not started go to other workers. A new
// worker takes its place. A cancelled or timed-out task is cancelled in the worker, and its worker
// is killed and replaced if the task does not return within the cancel grace.
//
// A Pool is safe for concurrent use. It cannot be passed to another process. Each worker is an
// idle process of a few MiB (mostly the binary's code, shared) until given work.
type Pool struct {
	cfg         poolConfig
	nextID      atomic.Uint64
	cb          *callbackRunner
	initFDsOnce sync.Once

	mu               sync.Mutex
	queue            []*job // jobs not yet sent, oldest first
	state            poolState
	brokenErr        error
	workers          map[*worker]struct{}
	waiting          []*worker // workers with room for more jobs, waiting for some
	startFails       int       // consecutive workers that failed before their handshake
	deathsNoProgress int       // consecutive worker deaths without a finished task between
	sent             int       // jobs sent and not yet answered, pool-wide
	idle             chan struct{}

	owners  sync.WaitGroup // one per worker: the goroutine that owns it
	stopMon chan struct{}
	monDone chan struct{}
}

type poolState int

const (
	poolOpen poolState = iota
	poolShuttingDown
	poolClosed
	poolBroken
)

// job is one unit sent to a worker: one call, or one chunk of a map.
type job struct {
	id      uint64
	fname   string
	arg     []byte
	chunk   int // 0 for a single call; else the number of items
	timeout time.Duration
	retries int // attempts after a worker's death; -1 takes the pool's WithRetries
	starts  int // attempts that were running when their worker died
	// finish receives the outcome, exactly once, never under the pool's lock.
	finish   func(value []byte, done int, err error)
	finished atomic.Bool
	replied  atomic.Bool

	w         *worker                    // set when sent; guarded by the pool's lock
	slot      int                        // w's call slot of j, while j.w is set
	timer     atomic.Pointer[time.Timer] // the timeout of the job's current attempt
	interrupt func()                     // for a direct call: interrupts the caller's read
	stopCtx   atomic.Pointer[func() bool]

	nfds  int // how many handles the argument holds
	fdsMu sync.Mutex
	fds   []int // their descriptors, until the job finishes
}

func (j *job) stopTimer() {
	if t := j.timer.Swap(nil); t != nil {
		t.Stop()
	}
}

func (j *job) complete(value []byte, done int, err error) bool {
	if !j.finished.CompareAndSwap(false, true) {
		return false
	}
	if j.nfds > 0 {
		j.fdsMu.Lock()
		closeFDs(j.fds)
		j.fds = nil
		j.fdsMu.Unlock()
	}
	j.finish(value, done, err)
	return true
}

// callFrame appends the Call frame of j, which was assigned to w, to buf, after sending w the
// descriptors of j's handles on the control socket.
func (w *worker) callFrame(buf []byte, j *job) []byte {
	n := 0
	if j.nfds > 0 {
		j.fdsMu.Lock()
		if n = len(j.fds); n > 0 {
			// A failure means the worker is dying; its death requeues or fails the job.
			writeWithFDs(w.conn, wire.AppendPair(nil, wire.TypeFDs, j.id, uint64(n)), j.fds)
		}
		j.fdsMu.Unlock()
	}
	return wire.AppendFrame(buf, wire.TypeCall, &wire.Call{ID: j.id, Func: j.fname, Arg: j.arg, Chunk: j.chunk, Timeout: int64(j.timeout), FDs: n, Slot: j.slot})
}

// NewPool starts a pool of worker processes and waits until each has answered its handshake (and
// run its initializer). ctx bounds the start only: if it ends first, the workers are killed and
// NewPool returns ctx.Err(). Invalid options are an ErrInvalidOption; a failing initializer is
// returned as its error. The pool must be ended with Shutdown or Close.
func NewPool(ctx context.Context, opts ...PoolOption) (*Pool, error) {
	guardChild()
	cfg := defaultPoolConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyPool(&cfg); err != nil {
			closeFDs(cfg.initFDs)
			return nil, err
		}
	}
	if cfg.initFunc != "" {
		if _, ok := lookup(cfg.initFunc); !ok {
			closeFDs(cfg.initFDs)
			return nil, fmt.Errorf("%w: initializer %q", ErrNotRegistered, cfg.initFunc)
		}
	}
	if currentInfo().Daemon {
		closeFDs(cfg.initFDs)
		return nil, fmt.Errorf("%w (a pool's workers are children)", ErrDaemonChildren)
	}
	p := &Pool{
		cfg:     cfg,
		workers: make(map[*worker]struct{}),
		cb:      newCallbackRunner(),
		stopMon: make(chan struct{}),
	}
	results := make(chan error, cfg.workers)
	p.owners.Add(cfg.workers)
	for range cfg.workers {
		go p.spawn(results)
	}
	var firstErr error
wait:
	for range cfg.workers {
		select {
		case err := <-results:
			if err != nil && firstErr == nil {
				firstErr = err
			}
		case <-ctx.Done():
			firstErr = ctx.Err()
			break wait
		}
	}
	if firstErr != nil {
		p.Close()
		return nil, firstErr
	}
	p.monDone = make(chan struct{})
	go p.monitor()
	return p, nil
}

// Workers returns the number of worker processes the pool keeps.
func (p *Pool) Workers() int { return p.cfg.workers }

// Pids returns the pids of the pool's workers that have answered their handshake and have not yet
// been reaped, for monitoring and tests. A worker that was just killed stays listed until its
// owner has reaped it, a moment later.
func (p *Pool) Pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.workers))
	for w := range p.workers {
		if w.ready && !w.exited {
			pids = append(pids, w.pid)
		}
	}
	return pids
}

var workerCounter atomic.Int64

// spawn starts one worker. If handshake is not nil, it receives exactly one value: nil once the
// worker has answered its handshake, or why it did not. The caller has added one to p.owners for
// it: the worker's owner goroutine releases it, or spawn does when it starts none.
func (p *Pool) spawn(handshake chan<- error) {
	n := workerCounter.Add(1)
	name := "PoolWorker-" + strconv.FormatInt(n, 10)
	// Calls and replies travel on two pipes, which cost half what a socket does per round trip;
	// the control socket carries the handshake and then the aborts, and tells each side when the
	// other has died.
	// The call slots (slots.go) are a page of shared memory, the worker's fourth descriptor.
	var callR, callW, replyR, replyW *os.File
	slots, err := newSlotTable()
	if err == nil {
		callR, callW, err = os.Pipe()
		if err != nil {
			slots.seg.Close()
		}
	}
	if err == nil {
		replyR, replyW, err = os.Pipe()
		if err != nil {
			callR.Close()
			callW.Close()
			slots.seg.Close()
		}
	}
	if err == nil {
		growPipe(callW)
		growPipe(replyW)
		slotFile := os.NewFile(uintptr(slots.seg.FD), "mp-worker-slots")
		slots.seg.FD = -1 // slotFile owns it now
		var cmd *exec.Cmd
		var conn *os.File
		cmd, conn, err = startChild(childSpec{name: name, env: p.cfg.env, ownGroup: true, extra: []*os.File{callR, replyW, slotFile}})
		callR.Close()
		replyW.Close()
		slotFile.Close()
		if err != nil {
			callW.Close()
			replyR.Close()
			slots.seg.Close()
		} else {
			p.adopt(name, n, cmd, conn, callW, replyR, slots, handshake)
			return
		}
	}
	if handshake != nil {
		handshake <- err
	}
	p.workerFailedStart(err)
	p.owners.Done()
}

// adopt takes a started worker process into the pool and starts its owner.
func (p *Pool) adopt(name string, n int64, cmd *exec.Cmd, conn, calls, replies *os.File, slots *slotTable, handshake chan<- error) {
	w := &worker{
		p: p, cmd: cmd, conn: conn, calls: calls, replies: replies, pid: cmd.Process.Pid, name: name,
		slots: slots, free: allSlotsFree,
		kick: make(chan struct{}, 1), rkick: make(chan struct{}, 1),
		quit: make(chan struct{}), dead: make(chan struct{}), done: make(chan struct{}),
		rr: newReplyReader(slots.ring, replies),
	}
	p.mu.Lock()
	if p.state == poolClosed || p.state == poolBroken {
		err := p.closedErr()
		p.mu.Unlock()
		cmd.Process.Kill()
		cmd.Wait()
		conn.Close()
		calls.Close()
		replies.Close()
		slots.seg.Close()
		bootstrap.Reaped()
		if handshake != nil {
			handshake <- err
		}
		p.owners.Done()
		return
	}
	p.workers[w] = struct{}{}
	p.mu.Unlock()
	cur := currentInfo()
	task := &wire.Task{
		Version: wire.Version, Name: name, Ident: strconv.FormatInt(n, 10),
		ParentName: cur.Name, ParentPid: cur.Pid,
		Worker: true, InitFunc: p.cfg.initFunc, InitArg: p.cfg.initArg,
	}
	go w.own(task, handshake)
}

// closedErr is the error for work offered to a pool that no longer takes any.
func (p *Pool) closedErr() error {
	if p.state == poolBroken {
		return p.brokenErr
	}
	return ErrClosed
}

// workerFailedStart counts a worker that never became ready, and breaks the pool after three in a
// row.
func (p *Pool) workerFailedStart(err error) {
	p.mu.Lock()
	p.startFails++
	broken := p.startFails >= 3 && p.state == poolOpen || p.startFails >= 3 && p.state == poolShuttingDown
	if broken {
		p.breakLocked(fmt.Errorf("%w: %d workers in a row failed to start; the last: %w", ErrBrokenPool, p.startFails, err))
	}
	p.mu.Unlock()
}

// breakLocked marks the pool broken and fails every queued job. The caller holds p.mu; jobs are
// completed from a goroutine, outside the lock.
func (p *Pool) breakLocked(err error) {
	p.state = poolBroken
	p.brokenErr = err
	q := p.queue
	p.queue = nil
	for w := range p.workers {
		w.kill()
	}
	go func() {
		for _, j := range q {
			j.complete(nil, 0, err)
		}
	}()
	p.signalIdleLocked()
}

// submit queues jobs, or fails them at once when the pool takes no more work.
func (p *Pool) submit(jobs ...*job) {
	p.mu.Lock()
	if p.state != poolOpen {
		err := p.closedErr()
		p.mu.Unlock()
		for _, j := range jobs {
			j.complete(nil, 0, err)
		}
		return
	}
	for _, j := range jobs {
		p.stampLocked(j)
	}
	p.queue = append(p.queue, jobs...)
	p.kickWaitingLocked()
	p.mu.Unlock()
}

// stampLocked gives a new job its ID and the pool's defaults.
func (p *Pool) stampLocked(j *job) {
	j.id = p.nextID.Add(1)
	if j.timeout == 0 {
		j.timeout = p.cfg.taskTimeout
	}
	if j.retries < 0 {
		j.retries = p.cfg.retries
	}
}

// kickWaitingLocked wakes waiting workers, as many as there are queued jobs.
func (p *Pool) kickWaitingLocked() {
	for len(p.waiting) > 0 && len(p.queue) > 0 {
		w := p.waiting[0]
		p.waiting = p.waiting[1:]
		w.waiting = false
		w.wake()
	}
}

// abort ends job j with err: at once for the caller, and in the worker by cancelling the task's
// context; if the worker has not answered within the cancel grace, it is killed and replaced.
//
// The job is marked finished before the pool's lock is taken, and a writer that takes a job from
// the queue checks that mark under the lock: so either the writer drops the job, or abort finds it
// on its worker. A job sent to a worker but not started there is taken back from its slot and never
// runs; only a job that has started needs the worker to cancel it.
func (p *Pool) abort(j *job, err error) {
	if !j.complete(nil, 0, err) || j.replied.Load() {
		return
	}
	p.mu.Lock()
	w := j.w
	if w == nil {
		// Still queued: a worker drops it when it comes to it. Wake one, so that a queue of
		// dropped jobs does not stand in the way of Shutdown.
		p.kickWaitingLocked()
		p.mu.Unlock()
		return
	}
	interrupt := j.interrupt
	if head, ok := w.revokeLocked(j); ok {
		p.signalIdleLocked()
		p.mu.Unlock()
		if interrupt != nil {
			interrupt()
		}
		if head != nil {
			w.startTimer(head)
		}
		w.wake() // room for another
		return
	}
	p.mu.Unlock()
	if interrupt != nil {
		interrupt()
	}
	w.amu.Lock()
	w.conn.Write(wire.AppendID(nil, wire.TypeAbort, j.id))
	w.amu.Unlock()
	grace := p.cfg.cancelGrace
	time.AfterFunc(grace, func() {
		if !j.replied.Load() {
			w.kill()
		}
	})
}

// signalIdleLocked wakes Shutdown when nothing is queued or running.
func (p *Pool) signalIdleLocked() {
	if p.idle != nil && len(p.queue) == 0 && p.sent == 0 {
		close(p.idle)
		p.idle = nil
	}
}

// monitor recycles workers over the memory limit.
func (p *Pool) monitor() {
	defer close(p.monDone)
	if p.cfg.memoryLimit <= 0 {
		<-p.stopMon
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stopMon:
			return
		case <-t.C:
		}
		p.mu.Lock()
		var over []*worker
		for w := range p.workers {
			if w.ready && !w.retiring && !w.exited && residentBytes(w.pid) > p.cfg.memoryLimit {
				over = append(over, w)
			}
		}
		for _, w := range over {
			w.retireLocked()
		}
		p.mu.Unlock()
	}
}

// Shutdown stops the pool gracefully: it refuses new work (ErrClosed), lets every queued and
// running task finish, then tells the workers to exit, and returns once they have. A worker that
// has not exited two seconds after its last task (one stopped by SIGSTOP, say) is killed: once the
// work is done, nothing waits for a worker that will not go. When ctx ends first, it falls back to
// Close and returns ctx.Err(). With CancelPending, tasks that have not started are
// cancelled (their futures fail with context.Canceled) instead of run: Python's
// shutdown(cancel_futures=True). Calling Shutdown after the pool was ended returns nil.
func (p *Pool) Shutdown(ctx context.Context, opts ...ShutdownOption) error {
	var so shutdownConfig
	for _, o := range opts {
		if o != nil {
			o.applyShutdown(&so)
		}
	}
	p.mu.Lock()
	if p.state == poolClosed {
		p.mu.Unlock()
		return nil
	}
	if p.state == poolOpen {
		p.state = poolShuttingDown
	}
	var dropped []*job
	if so.cancelPending {
		dropped, p.queue = p.queue, nil
	}
	idle := make(chan struct{})
	p.idle = idle
	p.signalIdleLocked()
	p.mu.Unlock()
	for _, j := range dropped {
		j.complete(nil, 0, context.Canceled)
	}

	select {
	case <-idle:
	case <-ctx.Done():
		p.Close()
		return ctx.Err()
	}
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for w := range p.workers {
		w.retireLocked()
		ws = append(ws, w)
	}
	p.mu.Unlock()
	// The work is done, so a worker that does not exit when told (stopped by SIGSTOP, or hung in
	// its exit) holds up nothing of value: it is killed after retireGrace.
	grace := time.NewTimer(retireGrace)
	defer grace.Stop()
	for _, w := range ws {
		select {
		case <-w.done:
		case <-grace.C:
			p.mu.Lock()
			for w := range p.workers {
				w.kill()
			}
			p.mu.Unlock()
			select {
			case <-w.done:
			case <-ctx.Done():
				p.Close()
				return ctx.Err()
			}
		case <-ctx.Done():
			p.Close()
			return ctx.Err()
		}
	}
	return p.Close()
}

// retireGrace is how long Shutdown lets workers take to exit once every task is done.
const retireGrace = 2 * time.Second

// ShutdownOption configures Shutdown.
type ShutdownOption interface{ applyShutdown(*shutdownConfig) }

type shutdownConfig struct{ cancelPending bool }

type cancelPending struct{}

func (cancelPending) applyShutdown(c *shutdownConfig) { c.cancelPending = true }

// CancelPending makes Shutdown cancel the tasks that have not started instead of running them.
func CancelPending() ShutdownOption { return cancelPending{} }

// Close stops the pool now: queued and running tasks fail with ErrClosed, workers are killed, and
// Close returns once they have been reaped and every goroutine of the pool has ended. After Close,
// every call on the pool fails with ErrClosed. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.state != poolBroken {
		p.state = poolClosed
	}
	q := p.queue
	p.queue = nil
	for w := range p.workers {
		w.kill()
	}
	p.mu.Unlock()
	for _, j := range q {
		j.complete(nil, 0, ErrClosed)
	}
	p.owners.Wait()
	p.initFDsOnce.Do(func() { closeFDs(p.cfg.initFDs) })
	p.mu.Lock()
	p.state = poolClosed
	select {
	case <-p.stopMon:
	default:
		close(p.stopMon)
	}
	mon := p.monDone
	p.mu.Unlock()
	if mon != nil {
		<-mon
	}
	p.cb.stop()
	return nil
}

// worker is the parent's side of one worker process.
type worker struct {
	p       *Pool
	cmd     *exec.Cmd
	conn    *os.File // control socket: handshake, then aborts
	calls   *os.File // pipe to the worker: calls and Retire
	replies *os.File // pipe from the worker: replies
	pid     int
	name    string

	wmu sync.Mutex // serialises writes to calls
	amu sync.Mutex // serialises writes to conn

	slots *slotTable // which of the calls sent the worker has started (slots.go)

	// Guarded by p.mu.
	pending  []*job   // sent and not answered (nor taken back), in order; the first may be running
	free     slotFree // slots not used by a pending job
	sentJobs int
	ready    bool
	retiring bool
	exited   bool
	waiting  bool
	replaced bool
	ewma     float64 // nanoseconds per job, smoothed
	headAt   time.Time

	direct     bool // a caller has the worker to itself (claimIdle)
	readerIdle bool // the reader waits, not reading

	rr    *replyReader  // replies; read by the reader, or by a direct caller
	kick  chan struct{} // wakes the writer
	rkick chan struct{} // wakes the reader
	quit  chan struct{}
	dead  chan struct{} // closed when the control socket reports the worker gone
	done  chan struct{}
}

func (w *worker) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// send writes frames to the worker; a failed write means it is dying, which its owner handles.
func (w *worker) send(frames []byte) {
	w.wmu.Lock()
	w.calls.Write(frames)
	w.wmu.Unlock()
}

func (w *worker) kill() {
	w.cmd.Process.Kill()
}

// retireLocked tells the worker to finish what it has and exit, and takes it out of the rotation.
// The caller holds p.mu.
func (w *worker) retireLocked() {
	if w.retiring || w.exited {
		return
	}
	w.retiring = true
	if w.waiting {
		w.waiting = false
		for i, q := range w.p.waiting {
			if q == w {
				w.p.waiting = append(w.p.waiting[:i:i], w.p.waiting[i+1:]...)
				break
			}
		}
	}
	w.wake() // the writer sends Retire after the calls it has sent, and stops
	if !w.replaced && w.p.state == poolOpen {
		w.replaced = true
		w.p.owners.Add(1)
		go w.p.spawn(nil)
	}
}

// assignLocked makes j the worker's latest pending job, in a free slot marked sent, before its call
// is written. The caller holds p.mu and has checked that the worker has room (a window never
// exceeds numSlots). It reports whether j is now the head, which runs as soon as it arrives.
func (w *worker) assignLocked(j *job) bool {
	j.w = w
	j.slot = w.free.take()
	w.slots.words[j.slot].Store(slotWord(j.id, slotSent))
	w.pending = append(w.pending, j)
	w.sentJobs++
	w.p.sent++
	if len(w.pending) == 1 {
		w.headAt = time.Now()
		return true
	}
	return false
}

// removeLocked takes pending job j off the worker and frees its slot. If that makes another job the
// head, it returns it: its timeout starts now. The caller holds p.mu.
func (w *worker) removeLocked(j *job) (head *job) {
	for i, q := range w.pending {
		if q != j {
			continue
		}
		copy(w.pending[i:], w.pending[i+1:])
		w.pending[len(w.pending)-1] = nil
		w.pending = w.pending[:len(w.pending)-1]
		w.free.put(j.slot)
		w.p.sent--
		if i == 0 && len(w.pending) > 0 {
			w.headAt = time.Now()
			head = w.pending[0]
		}
		return head
	}
	return nil
}

// revokeLocked takes pending job j back from the worker if the worker has not started it, so that
// it never will: the worker skips its call. It reports whether it did, and the new head, if any
// (see removeLocked). The caller holds p.mu.
func (w *worker) revokeLocked(j *job) (head *job, ok bool) {
	if j.w != w || w.exited || !w.slots.words[j.slot].CompareAndSwap(slotWord(j.id, slotSent), 0) {
		return nil, false
	}
	head = w.removeLocked(j)
	w.sentJobs-- // it counts for WithMaxTasksPerWorker where it runs
	j.w = nil
	return head, true
}

// stealLocked moves jobs that wait behind a busy worker's running job back to the front of the
// pool's queue, for w, which is idle: half of the busiest worker's unstarted jobs (at least one),
// taken from the back of its line. It reports whether it took any. The caller holds p.mu.
func (w *worker) stealLocked() bool {
	p := w.p
	var victim *worker
	most := 0
	for v := range p.workers {
		if v == w || v.exited || len(v.pending) < 2 {
			continue
		}
		// Jobs start in order, so the unstarted ones are a run at the back of the line; the
		// head is about to run even if it has not yet.
		n := 0
		for i := len(v.pending) - 1; i >= 1; i-- {
			j := v.pending[i]
			if v.slots.state(j.slot, j.id) != slotSent {
				break
			}
			n++
		}
		if n > most {
			victim, most = v, n
		}
	}
	if victim == nil {
		return false
	}
	take := (most + 1) / 2
	var got []*job
	for i := len(victim.pending) - 1; i >= 1 && len(got) < take; i-- {
		j := victim.pending[i]
		if _, ok := victim.revokeLocked(j); !ok {
			break // it has just started, and so have the ones before it
		}
		got = append(got, j)
	}
	if len(got) == 0 {
		return false
	}
	for l, r := 0, len(got)-1; l < r; l, r = l+1, r-1 {
		got[l], got[r] = got[r], got[l]
	}
	p.queue = append(got, p.queue...)
	victim.wake() // it has room again
	return true
}

// window is how many jobs the worker may have in flight: enough to cover a round trip when tasks
// are tiny, one when they are long, so that a slow task holds up as little as possible.
func (w *worker) window() int {
	if w.ewma <= 0 {
		return 1 // nothing known yet: assume the task is long
	}
	n := int(200e3/w.ewma) + 1
	return max(1, min(n, numSlots))
}

// own is the worker's owner: it sends the task, waits for the handshake, serves replies until the
// worker exits, then reaps it and hands back its unfinished work.
func (w *worker) own(task *wire.Task, handshake chan<- error) {
	p := w.p
	defer p.owners.Done()
	in := bufio.NewReaderSize(w.conn, 64<<10)
	b, _ := wire.Marshal(task)
	err := wire.WriteFrame(fdWriter{w.conn, p.cfg.initFDs}, wire.TypeTask, b)
	if err == nil {
		err = w.handshake(in)
	}
	if err == nil {
		p.mu.Lock()
		w.ready = true
		p.startFails = 0
		p.mu.Unlock()
	}
	if handshake != nil {
		handshake <- err
	}
	writerDone := make(chan struct{})
	if err == nil {
		go w.watchDeath()
		go w.writeLoop(writerDone)
		w.readLoop()
	} else {
		close(writerDone)
		close(w.dead)
		w.kill()
	}
	p.mu.Lock()
	w.exited = true
	p.mu.Unlock()
	close(w.quit)
	<-writerDone
	w.cmd.Wait()
	<-w.dead
	w.amu.Lock()
	w.conn.Close()
	w.amu.Unlock()
	w.wmu.Lock()
	w.calls.Close()
	w.wmu.Unlock()
	w.replies.Close()
	bootstrap.Reaped()
	w.exit(err)
	p.mu.Lock()
	w.slots.seg.Close() // exit has read the slots; nothing reads them once the worker has exited
	p.mu.Unlock()
	close(w.done)
}

// handshake reads the worker's Ready frame.
func (w *worker) handshake(in *bufio.Reader) error {
	typ, payload, err := wire.ReadFrame(in, wire.DefaultMaxFrame)
	if err != nil {
		w.cmd.Wait()
		st := w.cmd.ProcessState
		return fmt.Errorf("%w: %w; is mp.Init() the first statement of main?", ErrHandshake, &ExitError{Name: w.name, Pid: w.pid, ProcessState: st})
	}
	var r wire.Ready
	if typ != wire.TypeReady || wire.Unmarshal(payload, &r) != nil {
		return fmt.Errorf("%w: worker %s sent a bad handshake", ErrProtocol, w.name)
	}
	if r.Err != nil {
		return fromWire(w.name, w.pid, r.Err)
	}
	return nil
}

// writeLoop sends queued jobs to the worker while it has room for them. A worker with nothing in
// flight and nothing queued takes back jobs that wait behind a busy worker (stealLocked) before it
// waits in the pool's list, so that no job waits for a busy worker while this one is idle.
func (w *worker) writeLoop(done chan struct{}) {
	defer close(done)
	p := w.p
	var buf []byte
	for {
		p.mu.Lock()
		if w.exited {
			p.mu.Unlock()
			return
		}
		if w.retiring {
			p.mu.Unlock()
			w.send(wire.AppendID(nil, wire.TypeRetire, 0))
			return
		}
		room := w.window() - len(w.pending)
		if w.direct {
			room = 0 // a caller has the worker to itself; it wakes us when done
		}
		if p.cfg.maxTasks > 0 {
			room = min(room, p.cfg.maxTasks-w.sentJobs)
		}
		if room > 0 && len(w.pending) == 0 && len(p.queue) == 0 && w.stealLocked() {
			p.kickWaitingLocked()
		}
		// Take no more than a fair share of what is queued, so that two tasks for two idle
		// workers go one to each.
		if n := len(p.workers); n > 1 {
			room = min(room, max(1, (len(p.queue)+n-1)/n))
		}
		buf = buf[:0]
		var heads []*job
		for room > 0 && len(p.queue) > 0 {
			j := p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			if j.finished.Load() {
				continue
			}
			if w.assignLocked(j) {
				heads = append(heads, j) // it runs at once: its timeout starts now
			}
			room--
			buf = w.callFrame(buf, j)
		}
		retire := p.cfg.maxTasks > 0 && w.sentJobs >= p.cfg.maxTasks
		if retire {
			w.retireLocked()
		}
		if len(p.queue) == 0 {
			p.signalIdleLocked()
		}
		if len(buf) == 0 && room > 0 && !w.waiting && !retire {
			// Room for work but none queued: wait in the pool's list, where Submit finds it. A
			// worker without room waits for its reader instead, which wakes it on each reply.
			w.waiting = true
			p.waiting = append(p.waiting, w)
		}
		p.mu.Unlock()
		for _, j := range heads {
			w.startTimer(j)
		}
		if len(buf) > 0 || retire {
			w.rwake() // before writing: the worker may block on its replies until they are read
			w.send(buf)
			continue
		}
		select {
		case <-w.kick:
		case <-w.quit:
			return
		}
	}
}

// startTimer arms the task timeout of j, which has just started running in the worker.
func (w *worker) startTimer(j *job) {
	if j.timeout <= 0 {
		return
	}
	t := time.AfterFunc(j.timeout*time.Duration(max(1, j.chunk)), func() {
		w.p.abort(j, fmt.Errorf("mp: task %s on %s: %w", j.fname, w.name, context.DeadlineExceeded))
	})
	if old := j.timer.Swap(t); old != nil {
		old.Stop()
	}
}

// readLoop serves the worker's replies until it exits. It reads only while calls are pending and
// no caller has taken the worker for a direct call (see applyDirect); otherwise it waits to be
// woken, or for the worker's death.
func (w *worker) readLoop() {
	p := w.p
	for {
		p.mu.Lock()
		for {
			dead := closed(w.dead)
			if !w.direct && (len(w.pending) > 0 || dead) {
				break
			}
			w.readerIdle = true
			p.mu.Unlock()
			if dead {
				<-w.rkick
			} else {
				select {
				case <-w.rkick:
				case <-w.dead:
				}
			}
			p.mu.Lock()
			w.readerIdle = false
		}
		p.mu.Unlock()
		typ, payload, err := w.rr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				w.kill() // a reply that breaks the protocol: the worker is not to be trusted
			}
			return
		}
		if !w.handleFrame(typ, payload, false) {
			w.kill()
			return
		}
	}
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (w *worker) rwake() {
	select {
	case w.rkick <- struct{}{}:
	default:
	}
}

// watchDeath reads the control socket, on which the worker sends nothing after its handshake:
// end of file means it has exited.
func (w *worker) watchDeath() {
	defer close(w.dead)
	var b [64]byte
	for {
		if _, err := w.conn.Read(b[:]); err != nil {
			return
		}
	}
}

// handleFrame completes the pending call a reply answers. It reports false for a frame that
// breaks the protocol: the worker is then not to be trusted.
func (w *worker) handleFrame(typ byte, payload []byte, direct bool) bool {
	p := w.p
	var r wire.Reply
	if typ != wire.TypeReply || wire.Unmarshal(payload, &r) != nil {
		return false
	}
	now := time.Now()
	p.mu.Lock()
	if len(w.pending) == 0 || w.pending[0].id != r.ID {
		p.mu.Unlock()
		return false // a reply out of order
	}
	j := w.pending[0]
	took := float64(now.Sub(w.headAt))
	next := w.removeLocked(j)
	p.deathsNoProgress = 0
	if chunk := max(1, j.chunk); chunk > 1 {
		took /= float64(chunk)
	}
	if w.ewma == 0 {
		w.ewma = took
	} else {
		w.ewma = 0.8*w.ewma + 0.2*took
	}
	p.signalIdleLocked()
	p.mu.Unlock()
	if !direct {
		w.wake() // room for one more
	}
	j.replied.Store(true)
	j.stopTimer()
	if next != nil {
		w.startTimer(next)
	}
	var jerr error
	if r.Err != nil {
		jerr = fromWire(w.name, w.pid, r.Err)
	}
	j.complete(r.Value, r.Done, jerr)
	return true
}

// claimIdle gives job j a worker to itself for a direct call, if one is idle and nothing is
// queued: the caller then writes the call and reads the reply on its own goroutine, with no
// hand-off to the worker's writer and reader (which, on a small machine, costs more than the
// call). It returns nil when no worker is free.
func (p *Pool) claimIdle(j *job) *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != poolOpen || len(p.queue) > 0 {
		return nil
	}
	for i, w := range p.waiting {
		if !w.readerIdle || len(w.pending) > 0 || w.direct || w.retiring || w.exited ||
			p.cfg.maxTasks > 0 && w.sentJobs+1 >= p.cfg.maxTasks {
			continue
		}
		p.waiting = append(p.waiting[:i:i], p.waiting[i+1:]...)
		w.waiting = false
		w.direct = true
		p.stampLocked(j)
		j.interrupt = func() { w.replies.SetReadDeadline(time.Now()) }
		w.assignLocked(j)
		return w
	}
	return nil
}

// applyDirect runs job j on worker w, which claimIdle gave it: it writes the call and reads the
// reply itself. A cancellation or timeout interrupts the read; the worker's reader takes over
// whatever is left.
func (w *worker) applyDirect(ctx context.Context, j *job) {
	p := w.p
	frame := w.callFrame(nil, j)
	w.wmu.Lock()
	_, err := w.calls.Write(frame)
	w.wmu.Unlock()
	if err == nil {
		w.startTimer(j)
		stop := context.AfterFunc(ctx, func() { p.abort(j, context.Cause(ctx)) })
		typ, payload, rerr := w.rr.next()
		stop()
		if rerr == nil && !w.handleFrame(typ, payload, true) {
			w.kill()
		}
		w.replies.SetReadDeadline(time.Time{})
	}
	// Hand the worker back. Waking its reader and writer costs as much as the call did, so only
	// wake whichever has something to do; an idle worker goes straight back on the waiting list.
	p.mu.Lock()
	w.direct = false
	wakeReader := len(w.pending) > 0 || closed(w.dead)
	wakeWriter := len(p.queue) > 0 || w.retiring || w.exited
	if !wakeWriter && !w.waiting {
		w.waiting = true
		p.waiting = append(p.waiting, w)
	}
	p.mu.Unlock()
	if wakeReader {
		w.rwake()
	}
	if wakeWriter {
		w.wake()
	}
}

// exit handles the end of the worker process, once every reply it wrote has been read. Each job
// still pending is judged by its slot: the one that was running fails with the worker's exit status
// (or goes back to the queue, if it has retries left); one whose function had returned fails with
// ErrResultLost; those that had not started go back to the front of the pool's queue. Then a new
// worker takes this one's place.
func (w *worker) exit(startErr error) {
	p := w.p
	st := w.cmd.ProcessState
	p.mu.Lock()
	delete(p.workers, w)
	for i, q := range p.waiting {
		if q == w {
			p.waiting = append(p.waiting[:i:i], p.waiting[i+1:]...)
			break
		}
	}
	pending := w.pending
	w.pending = nil
	p.sent -= len(pending)
	type failure struct {
		j   *job
		err error
	}
	var failed []failure
	var requeue []*job
	ran := false // a job was running: the worker did not die idle
	for _, j := range pending {
		j.w = nil
		if j.finished.Load() {
			if w.slots.state(j.slot, j.id) >= slotRunning {
				ran = true
			}
			continue
		}
		switch w.slots.state(j.slot, j.id) {
		case slotSent:
			j.stopTimer() // it had not started: its timeout starts again on its next worker
			requeue = append(requeue, j)
		case slotDone:
			ran = true
			failed = append(failed, failure{j, &ExitError{Name: w.name, Pid: w.pid, ProcessState: st, cause: ErrResultLost}})
		default: // running
			ran = true
			j.starts++
			if j.starts <= j.retries {
				j.stopTimer()
				requeue = append(requeue, j)
				continue
			}
			var err error = &ExitError{Name: w.name, Pid: w.pid, ProcessState: st, cause: ErrWorkerDied}
			if st == nil {
				err = fmt.Errorf("%w: %s (pid %d)", ErrWorkerDied, w.name, w.pid)
			}
			if j.starts > 1 {
				err = fmt.Errorf("mp: task %s: its worker died in each of %d attempts; the last: %w", j.fname, j.starts, err)
			}
			failed = append(failed, failure{j, err})
		}
	}
	open := p.state == poolOpen || p.state == poolShuttingDown
	if open && len(requeue) > 0 {
		p.queue = append(requeue, p.queue...)
	}
	crashed := startErr == nil && st != nil && !st.Success() && !w.retiring
	if crashed && !ran {
		p.deathsNoProgress++
	}
	respawn := open && !w.replaced && (p.state == poolOpen || len(p.queue) > 0 || p.sent > 0)
	if startErr == nil && p.deathsNoProgress > maxDeathsNoProgress(p.cfg.workers) && p.state == poolOpen {
		p.breakLocked(fmt.Errorf("%w: %d workers died in a row without finishing a task", ErrBrokenPool, p.deathsNoProgress))
		respawn = false
	}
	w.replaced = true
	if !open {
		requeue = append(requeue, p.queue...)
		p.queue = nil
	}
	p.kickWaitingLocked()
	p.signalIdleLocked()
	state := p.state
	closedErr := p.closedErr()
	if respawn {
		p.owners.Add(1)
	}
	p.mu.Unlock()

	for _, f := range failed {
		f.j.stopTimer()
		err := f.err
		if state == poolClosed {
			err = ErrClosed
		}
		f.j.complete(nil, 0, err)
	}
	if !open {
		for _, j := range requeue {
			j.complete(nil, 0, closedErr)
		}
	}
	if startErr != nil {
		p.workerFailedStart(startErr)
	}
	if respawn {
		if startErr != nil {
			time.Sleep(10 * time.Millisecond) // do not spin on a worker that cannot start
		}
		p.spawn(nil)
	}
}

// maxDeathsNoProgress is how many workers in a row may die without a task running before the pool
// counts as broken: enough that a burst of kills of idle workers does not break it.
func maxDeathsNoProgress(workers int) int { return 2*workers + 2 }

// callbackRunner runs futures' done callbacks in the parent, one at a time, in the order their
// futures completed — as Python's pool runs callbacks on its result-handler thread. A callback
// that panics is reported on standard error and does not stop the others.
type callbackRunner struct {
	mu      sync.Mutex
	queue   []func()
	running bool
	stopped bool
	idle    sync.Cond
}

func newCallbackRunner() *callbackRunner {
	r := &callbackRunner{}
	r.idle.L = &r.mu
	return r
}

func (r *callbackRunner) run(fn func()) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		go safeCallback(fn)
		return
	}
	r.queue = append(r.queue, fn)
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
}

func (r *callbackRunner) loop() {
	r.mu.Lock()
	for len(r.queue) > 0 {
		fn := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		safeCallback(fn)
		r.mu.Lock()
	}
	r.running = false
	r.idle.Broadcast()
	r.mu.Unlock()
}

// stop waits for queued callbacks to run; later callbacks run on goroutines of their own.
func (r *callbackRunner) stop() {
	r.mu.Lock()
	r.stopped = true
	for r.running {
		r.idle.Wait()
	}
	r.mu.Unlock()
}

func safeCallback(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "mp: a future's done callback panicked: %v\n", r)
		}
	}()
	fn()
}
