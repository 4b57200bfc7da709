package mp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// Pool is a set of worker processes that run registered functions: Python's multiprocessing.Pool
// and concurrent.futures.ProcessPoolExecutor as one type. Workers start once and are reused; tasks
// go to them through their control sockets, several at a time, and come back in order.
//
// A Pool is an Executor: use the package functions to run work on it — Apply, Submit (a *Future),
// Map, MapSeq and MapSeqUnordered — and the same code runs on a GoroutinePool or a cluster's
// executor. End it with Shutdown (let queued work finish) or Close (stop now); after either,
// every call fails with ErrClosed.
//
// Python's `with Pool() as p:` terminates the pool on leaving the block: that is
// `defer p.Close()`. `with ProcessPoolExecutor() as ex:` waits for the submitted work, like
// shutdown(wait=True): that is `defer p.Shutdown(ctx)` (with a ctx that bounds the wait).
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
// idle process of a few MiB (mostly the binary's code, shared) until given work. On a 2-core
// machine an Apply round trip of a tiny task takes about 12 µs, and tiny tasks submitted back to
// back about 4 µs each (go test -bench 'PoolApply|PoolSubmit' ./bench).
type Pool struct {
	cfg         poolConfig
	nextID      atomic.Uint64
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
	paused           bool // Pause: no job starts until Resume
	workerSeq        int  // the ID of the last worker started

	obs poolObs // what an observer sees (pool_observe.go)

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
	pool    *Pool
	id      uint64
	fname   string
	arg     []byte
	chunk   int // 0 for a single call; else the number of items
	timeout time.Duration
	retries int // attempts after a worker's death; -1 takes the pool's WithRetries
	starts  int // attempts that were running when their worker died
	// call receives the outcome, exactly once, never under the pool's lock.
	call     *Call
	finished atomic.Bool
	replied  atomic.Bool

	w         *worker                    // set when sent; guarded by the pool's lock
	slot      int                        // w's call slot of j, while j.w is set
	timer     atomic.Pointer[time.Timer] // the timeout of the job's current attempt
	interrupt func()                     // for a direct call: interrupts the caller's read
	stopCtx   atomic.Pointer[func() bool]

	// For observers (pool_observe.go): the worker that ran it, when it was queued (only while
	// someone observes) and when its last attempt started, in unix ns.
	pid      atomic.Int64
	queuedAt atomic.Int64
	ranAt    atomic.Int64

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
	return j.completeFDs(value, nil, done, err)
}

// completeFDs is complete for a result that came with the descriptors of its shared memory
// segments, which it owns.
func (j *job) completeFDs(value []byte, rfds []int, done int, err error) bool {
	if !j.finished.CompareAndSwap(false, true) {
		closeFDs(rfds)
		return false
	}
	if j.nfds > 0 {
		j.fdsMu.Lock()
		closeFDs(j.fds)
		j.fds = nil
		j.fdsMu.Unlock()
	}
	if stop := j.stopCtx.Load(); stop != nil {
		(*stop)()
	}
	// Counted before the caller learns of it: a snapshot taken once the call returned counts it.
	j.pool.obs.complete(callEnd{task: j.fname, pid: int(j.pid.Load()), items: j.chunk, queuedAt: j.queuedAt.Load(), ranAt: j.ranAt.Load(), attempts: j.starts + 1, err: err})
	j.call.completeFDs(value, rfds, done, err)
	return true
}

// Execute starts c on the pool's workers; it is the Executor method that Apply, Submit, Map and
// the MapSeq functions call, and code outside this package rarely needs it. It encodes the
// argument in the caller, passing the handles it holds to the worker by descriptor and its big
// values by shared memory (see BulkThreshold), and queues the call. A call on a pool that was shut down fails with ErrClosed.
func (p *Pool) Execute(ctx context.Context, c *Call) (abort func(cause error)) {
	j, err := p.newJob(c)
	if err != nil {
		c.complete(nil, 0, err)
		return noAbort
	}
	p.bindContext(ctx, j)
	p.submit(j)
	return func(cause error) { p.abort(j, cause) }
}

// zero reports whether p is nil or a zero Pool, not made by NewPool: every call on it fails with
// ErrClosed, and Shutdown and Close do nothing.
func (p *Pool) zero() bool { return p == nil || p.workers == nil }

// noAbort is the abort function of a call that completed before it started.
func noAbort(error) {}

// newJob makes the job of call c, encoding its argument.
func (p *Pool) newJob(c *Call) (*job, error) {
	if p.zero() {
		return nil, fmt.Errorf("%w: a nil or zero *mp.Pool; make pools with mp.NewPool", ErrClosed)
	}
	b, fds, err := c.argWithHandles()
	if err != nil {
		closeFDs(fds)
		return nil, err
	}
	return &job{pool: p, fname: c.Func, arg: b, chunk: c.Chunk, timeout: c.Timeout, retries: c.Retries, fds: fds, nfds: len(fds), call: c}, nil
}

// executeAll starts calls, encoding every argument before it queues any: an argument that
// cannot be encoded fails them all, and nothing runs.
func (p *Pool) executeAll(calls []*Call) error {
	jobs := make([]*job, 0, len(calls))
	for _, c := range calls {
		j, err := p.newJob(c)
		if err != nil {
			for _, j := range jobs {
				closeFDs(j.fds) // never sent
			}
			return err
		}
		jobs = append(jobs, j)
	}
	for i, j := range jobs {
		calls[i].job = j
	}
	p.submit(jobs...)
	return nil
}

// apply runs c as Apply does: directly on an idle worker when one is free and nothing waits,
// else queued as Execute does. Apply itself waits for the result and cancels on ctx.
func (p *Pool) apply(ctx context.Context, c *Call) {
	j, err := p.newJob(c)
	if err != nil {
		c.complete(nil, 0, err)
		return
	}
	if w := p.claimIdle(j); w != nil {
		w.applyDirect(ctx, j)
		return
	}
	p.bindContext(ctx, j)
	p.submit(j)
}

// bindContext aborts job j when ctx ends before it does.
func (p *Pool) bindContext(ctx context.Context, j *job) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { p.abort(j, context.Cause(ctx)) })
		j.stopCtx.Store(&stop)
		if j.finished.Load() {
			stop()
		}
	}
}

// Workers returns the number of worker processes the pool keeps (0 for a nil or zero Pool).
func (p *Pool) Workers() int {
	if p.zero() {
		return 0
	}
	return p.cfg.workers
}

// NewPool starts a pool of worker processes and waits until each has answered its handshake (and
// run its initializer). ctx bounds the start only: if it ends first, the workers are killed and
// NewPool returns ctx.Err(). Invalid options are an ErrInvalidOption; a failing initializer is
// returned as its error. The pool must be ended with Shutdown or Close.
func NewPool(ctx context.Context, opts ...PoolOption) (*Pool, error) {
	guardChild()
	cfg, err := buildPoolConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.initFunc != "" {
		if _, ok := lookup(cfg.initFunc); !ok {
			return nil, fmt.Errorf("%w: initializer %q", ErrNotRegistered, cfg.initFunc)
		}
		var err error
		if cfg.initArg, cfg.initFDs, err = cfg.initEncode(); err != nil {
			closeFDs(cfg.initFDs)
			return nil, err
		}
	}
	if currentInfo().Daemon {
		closeFDs(cfg.initFDs)
		return nil, fmt.Errorf("%w (a pool's workers are children)", ErrDaemonChildren)
	}
	p := &Pool{
		cfg:     cfg,
		workers: make(map[*worker]struct{}),
		stopMon: make(chan struct{}),
	}
	p.obs.init(cfg.name, "process")
	results := make(chan error, cfg.workers)
	p.owners.Add(cfg.workers)
	for range cfg.workers {
		go p.spawn(results, 0)
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

// Pids returns the pids of the pool's workers that have answered their handshake and have not yet
// been reaped, for monitoring and tests. A worker that was just killed stays listed until its
// owner has reaped it, a moment later.
func (p *Pool) Pids() []int {
	if p.zero() {
		return nil
	}
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

// closedErr is the error for work offered to a pool that no longer takes any.
func (p *Pool) closedErr() error {
	if p.state == poolBroken {
		return p.brokenErr
	}
	if p.state == poolShuttingDown {
		return errPoolShuttingDown
	}
	return errPoolShutDown
}

// The errors of work a *Pool refuses or drops once it is shut down; each matches ErrClosed.
var (
	errPoolShuttingDown  = fmt.Errorf("%w: the *mp.Pool is shutting down (Shutdown was called) and takes no new work", ErrClosed)
	errPoolShutDown      = fmt.Errorf("%w: the *mp.Pool was shut down (Shutdown or Close was called) and takes no new work", ErrClosed)
	errPoolClosedQueued  = fmt.Errorf("%w: the *mp.Pool was closed (Close was called) before this task ran", ErrClosed)
	errPoolClosedRunning = fmt.Errorf("%w: the *mp.Pool was closed (Close was called) while this task ran", ErrClosed)
)

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
		w.markKillLocked(ExitShutdown, "the pool broke: "+err.Error())
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
	j.id = p.nextID.Add(1) // and the count of calls accepted, for Snapshot
	if p.obs.observing() {
		j.queuedAt.Store(time.Now().UnixNano())
	}
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
			reason, why := ExitCancel, "cancelled"
			if errors.Is(err, context.DeadlineExceeded) {
				reason, why = ExitTimeout, "timed out"
			}
			p.mu.Lock()
			w.markKillLocked(reason, fmt.Sprintf("SIGKILL from the pool: its call of %s did not return within the cancel grace (%v) after it %s", j.fname, grace, why))
			p.mu.Unlock()
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
			if w.ready && !w.retiring && !w.exited && sys.ResidentBytes(w.pid) > p.cfg.memoryLimit {
				over = append(over, w)
			}
		}
		for _, w := range over {
			w.retireLocked(ExitMemory, fmt.Sprintf("resident memory over WithWorkerMemoryLimit(%d)", p.cfg.memoryLimit))
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
	so := shutdownOptions(opts)
	if p.zero() {
		return nil
	}
	p.mu.Lock()
	if p.state == poolClosed {
		p.mu.Unlock()
		return nil
	}
	if p.state == poolOpen {
		p.state = poolShuttingDown
	}
	p.resumeLocked() // the queued work is to run
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
		w.retireLocked(ExitShutdown, "the pool was shut down (Shutdown)")
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
				w.markKillLocked(ExitShutdown, fmt.Sprintf("SIGKILL from the pool: it had not exited %v after Shutdown told it to", retireGrace))
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

// shutdownOptions applies opts, skipping nil ones.
func shutdownOptions(opts []ShutdownOption) shutdownConfig {
	var so shutdownConfig
	for _, o := range opts {
		if o != nil {
			o.applyShutdown(&so)
		}
	}
	return so
}

// CancelPending makes Shutdown cancel the tasks that have not started instead of running them.
func CancelPending() ShutdownOption { return cancelPending{} }

// Close stops the pool now: queued and running tasks fail with ErrClosed, workers are killed, and
// Close returns once they have been reaped and every goroutine of the pool has ended. After Close,
// every call on the pool fails with ErrClosed. Close is idempotent.
func (p *Pool) Close() error {
	if p.zero() {
		return nil
	}
	p.mu.Lock()
	if p.state != poolBroken {
		p.state = poolClosed
	}
	q := p.queue
	p.queue = nil
	for w := range p.workers {
		w.markKillLocked(ExitShutdown, "SIGKILL from the pool: it was closed (Close)")
		w.kill()
	}
	p.mu.Unlock()
	for _, j := range q {
		j.complete(nil, 0, errPoolClosedQueued)
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
	waitCallbacks(p)
	return nil
}

// maxDeathsNoProgress is how many workers in a row may die without a task running before the pool
// counts as broken: enough that a burst of kills of idle workers does not break it.
func maxDeathsNoProgress(workers int) int { return 2*workers + 2 }
