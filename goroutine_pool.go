package mp

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// GoroutinePool is an Executor that runs registered functions on goroutines of this process:
// Python's multiprocessing.pool.ThreadPool, multiprocessing.dummy.Pool and
// concurrent.futures.ThreadPoolExecutor. `with ThreadPool() as p:` is `defer p.Close()`, and
// `with ThreadPoolExecutor() as ex:` (which waits for the work) is `defer p.Shutdown(ctx)`. The
// same Apply, Submit, Map and MapSeq code runs on it and on a *Pool; to switch, change the
// constructor:
//
//	ex, err := mp.NewPool(ctx, mp.WithWorkers(4))          // worker processes
//	ex, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(4)) // goroutines of this process
//
// What differs, by design:
//   - Nothing is encoded: the argument is passed to the function as is, and the result returned
//     as is. A pointer or slice in the argument is shared with the caller, not copied, and an
//     error keeps its exact value. (A Call made by NewCall, whose argument is already encoded, is
//     decoded and its result encoded, as a worker process does.)
//   - A timeout or a cancel returns at once, with the same error as on a *Pool, and cancels the
//     function's context; but a goroutine cannot be killed, so a function that ignores its
//     context keeps running (and keeps its worker busy) until it returns, and its result is
//     dropped. For work that must really stop, use a *Pool, whose workers are killed.
//   - A panic in a function fails its call with a *PanicError holding the stack; it does not
//     crash the program, and the worker goes on.
//   - The function's context carries no values of the caller's (as in a worker process); it is
//     cancelled when the call is, or when the pool is closed.
//
// Options: WithWorkers (default NumCPU()), WithInitializer (run on each worker goroutine before
// its first task, and again after WithMaxTasksPerWorker recycles it), WithMaxTasksPerWorker, and
// WithTaskTimeout apply; WithRetries has nothing to do (a goroutine does not die) and is
// accepted; options that only mean something for processes — WithWorkerMemoryLimit,
// WithWorkerEnv, WithCancelGrace — are an ErrInvalidOption.
//
// It works on every platform, Windows included, since it starts no process.
//
// A GoroutinePool is safe for concurrent use and cannot be passed to another process. It costs
// a goroutine per worker; a call in a Map costs about 0.4 µs on 2 cores, about six times less
// than Python's ThreadPool (go test -bench GoroutinePoolMap ./bench; go run ./bench/compare -only
// goroutine_pool_map_chunk1), and an Apply the cost of two goroutine hand-offs.
type GoroutinePool struct {
	workers  int
	maxTasks int
	timeout  time.Duration
	init     func(context.Context) error

	mu      sync.Mutex
	wake    sync.Cond
	state   poolState
	queue   callQueue // calls not yet started, oldest first; aborted ones are skipped
	running map[*Call]struct{}
	live    int           // worker goroutines
	idle    chan struct{} // closed when nothing is queued or running and Shutdown waits
	gone    chan struct{} // closed when the last worker goroutine has ended after Shutdown

	// For observers (pool_observe.go).
	nextID    uint64 // the ID of the last call queued
	paused    bool   // Pause: no call starts until Resume
	workerSeq int    // the ID of the last worker started
	gworkers  map[*gworker]struct{}
	obs       poolObs
	// watched is set by the first Snapshot: from then on each call's start is stamped (a
	// time.Now per call, which a pool nobody watches does not pay).
	watched atomic.Bool
}

// gworker is one worker goroutine as a snapshot shows it; its fields are guarded by the pool's
// lock.
type gworker struct {
	id, replaces int
	started      time.Time
	tasksDone    uint64
	cur          *Call // the call it runs, nil when idle
	recycle      bool  // Recycle asked it to end after its call
}

// goCall is the state of a call queued on or running in a GoroutinePool, kept in the Call.
type goCall struct {
	cancel  context.CancelFunc // of the running function's context, once started
	stopCtx func() bool        // unbinds the caller's ctx

	// For observers, guarded by the pool's lock: the call's ID, and when it was queued (while
	// someone observes) and started, in unix ns.
	id       uint64
	queuedAt int64
	ranAt    int64
}

// callQueue is a FIFO of calls.
type callQueue struct {
	calls []*Call
	head  int
}

func (q *callQueue) push(c *Call) { q.calls = append(q.calls, c) }

// pop returns the oldest call that has not completed (an aborted call is dropped), or nil.
func (q *callQueue) pop() *Call {
	for q.head < len(q.calls) {
		c := q.calls[q.head]
		q.calls[q.head] = nil
		q.head++
		if !c.Finished() {
			return c
		}
	}
	q.calls, q.head = q.calls[:0], 0
	return nil
}

// live reports whether a call that has not completed is queued, dropping completed ones at the
// head.
func (q *callQueue) live() bool {
	for q.head < len(q.calls) && q.calls[q.head].Finished() {
		q.calls[q.head] = nil
		q.head++
	}
	return q.head < len(q.calls)
}

// take empties the queue and returns what it held.
func (q *callQueue) take() []*Call {
	cs := q.calls[q.head:]
	q.calls, q.head = nil, 0
	return cs
}

// NewGoroutinePool starts a pool of n worker goroutines (WithWorkers; NumCPU() by default) and
// waits until each has run its initializer. A failing initializer is returned as its error, and
// invalid options as an ErrInvalidOption. ctx bounds the start only. The pool must be ended with
// Shutdown or Close.
func NewGoroutinePool(ctx context.Context, opts ...PoolOption) (*GoroutinePool, error) {
	cfg, err := buildPoolConfig(opts)
	if err != nil {
		return nil, err
	}
	def := defaultPoolConfig()
	for _, bad := range []struct {
		set  bool
		name string
	}{
		{cfg.memoryLimit != 0, "WithWorkerMemoryLimit"},
		{cfg.env != nil, "WithWorkerEnv"},
		{cfg.cancelGrace != def.cancelGrace, "WithCancelGrace"},
	} {
		if bad.set {
			return nil, fmt.Errorf("%w: %s does not apply to a GoroutinePool, whose workers are goroutines of this process; leave it out, or use NewPool", ErrInvalidOption, bad.name)
		}
	}
	p := &GoroutinePool{
		workers:  cfg.workers,
		maxTasks: cfg.maxTasks,
		timeout:  cfg.taskTimeout,
		init:     cfg.initLocal,
		running:  make(map[*Call]struct{}),
		gworkers: make(map[*gworker]struct{}),
	}
	p.obs.init(cfg.name, "goroutine")
	p.wake.L = &p.mu
	started := make(chan error, p.workers)
	p.mu.Lock()
	p.live = p.workers
	p.mu.Unlock()
	for range p.workers {
		go p.worker(started, 0)
	}
	var firstErr error
	for range p.workers {
		select {
		case err := <-started:
			if err != nil && firstErr == nil {
				firstErr = err
			}
		case <-ctx.Done():
			if firstErr == nil {
				firstErr = ctx.Err()
			}
		}
		if firstErr != nil {
			break
		}
	}
	if firstErr != nil {
		p.Close()
		return nil, firstErr
	}
	return p, nil
}

// The errors of calls a *GoroutinePool refuses or drops once it is shut down; each matches
// ErrClosed.
var (
	errGoroutinePoolShutDown      = fmt.Errorf("%w: the *mp.GoroutinePool was shut down (Shutdown or Close was called) and takes no new work", ErrClosed)
	errGoroutinePoolClosedQueued  = fmt.Errorf("%w: the *mp.GoroutinePool was closed (Close was called) before this call ran", ErrClosed)
	errGoroutinePoolClosedRunning = fmt.Errorf("%w: the *mp.GoroutinePool was closed (Close was called) while this call ran", ErrClosed)
)

// zero reports whether p is nil or a zero GoroutinePool, not made by NewGoroutinePool: every
// call on it fails with ErrClosed, and Shutdown and Close do nothing.
func (p *GoroutinePool) zero() bool { return p == nil || p.running == nil }

// Workers returns the number of worker goroutines (0 for a nil or zero GoroutinePool).
func (p *GoroutinePool) Workers() int {
	if p.zero() {
		return 0
	}
	return p.workers
}

// Execute queues c for the pool's workers; it is the Executor method that Apply, Submit, Map and
// the MapSeq functions call. A call on a pool that was shut down fails with ErrClosed.
func (p *GoroutinePool) Execute(ctx context.Context, c *Call) (abort func(cause error)) {
	if p.zero() {
		c.complete(nil, 0, fmt.Errorf("%w: a nil or zero *mp.GoroutinePool; make one with mp.NewGoroutinePool", ErrClosed))
		return noAbort
	}
	if !p.executeAll(ctx, []*Call{c}) {
		return noAbort
	}
	return func(cause error) { p.abort(c, cause) }
}

// executeAll queues calls, under one lock; they are aborted with abort. It reports false when
// the pool was closed: the calls have failed with ErrClosed.
func (p *GoroutinePool) executeAll(ctx context.Context, calls []*Call) bool {
	p.mu.Lock()
	if p.state != poolOpen {
		p.mu.Unlock()
		for _, c := range calls {
			c.complete(nil, 0, errGoroutinePoolShutDown)
		}
		return false
	}
	observing := p.obs.observing()
	for _, c := range calls {
		c.gpool = p
		p.nextID++
		c.g.id = p.nextID
		if observing {
			c.g.queuedAt = time.Now().UnixNano()
		}
		p.queue.push(c)
		if ctx.Done() != nil {
			c.g.stopCtx = context.AfterFunc(ctx, func() { p.abort(c, context.Cause(ctx)) })
		}
	}
	if len(calls) == 1 {
		p.wake.Signal()
	} else {
		p.wake.Broadcast()
	}
	p.mu.Unlock()
	return true
}

// abort ends call c with err at once: a queued call never runs (the worker that comes to it
// drops it); a running one has its function's context cancelled.
func (p *GoroutinePool) abort(c *Call, err error) {
	if !c.finished.CompareAndSwap(false, true) {
		return
	}
	g := &c.g
	p.mu.Lock()
	if g.cancel != nil {
		g.cancel()
	} else {
		p.wake.Signal() // a worker drops it, so that Shutdown does not wait for it
	}
	p.signalIdleLocked()
	stop := g.stopCtx
	end := callEnd{task: c.Func, items: c.Chunk, queuedAt: g.queuedAt, ranAt: g.ranAt, attempts: 1, err: err}
	p.mu.Unlock()
	// Counted before the caller learns of it: a snapshot taken once the call returned counts it.
	p.obs.complete(end)
	c.impl.finish(nil, 0, err)
	if stop != nil {
		stop()
	}
}

// worker is one worker goroutine: it runs the initializer, then calls until the pool ends or
// WithMaxTasksPerWorker or Recycle has it replaced. started, when not nil, receives the
// initializer's outcome; replaces is the ID of the worker it replaces, 0 for one of the first.
func (p *GoroutinePool) worker(started chan<- error, replaces int) {
	gw := p.addWorker(replaces)
	if p.init != nil {
		ctx, cancel := context.WithCancel(context.Background())
		err := runProtected(func() error { return p.init(ctx) })
		cancel()
		if err != nil {
			err = fmt.Errorf("mp: the initializer of a GoroutinePool worker failed: %w", err)
		}
		if started != nil {
			started <- err
		}
		if err != nil {
			p.workerEnded(gw, ExitStartFail, err.Error())
			p.workerGone()
			return
		}
	} else if started != nil {
		started <- nil
	}
	// The worker's context serves its calls one after the other until an abort cancels it; then
	// the next call gets a fresh one. (A call's context is cancelled only while the call runs:
	// run takes the cancel function back before the worker moves on.)
	var ctx context.Context
	var cancel context.CancelFunc
	defer func() {
		if cancel != nil {
			cancel()
		}
	}()
	for tasks := 0; p.maxTasks == 0 || tasks < p.maxTasks; tasks++ {
		if ctx == nil || ctx.Err() != nil {
			if cancel != nil {
				cancel()
			}
			ctx, cancel = context.WithCancel(context.Background())
		}
		c, recycle := p.next(gw, cancel)
		if recycle {
			// Recycle asked for it: a fresh worker takes its place, as below.
			p.workerEnded(gw, ExitRecycled, "retired by Recycle")
			go p.worker(nil, gw.id)
			return
		}
		if c == nil {
			p.workerEnded(gw, ExitShutdown, "the pool was shut down or closed")
			p.workerGone()
			return
		}
		p.run(ctx, gw, c)
	}
	// Recycled after its maximum number of tasks: a fresh worker takes its place (and runs the
	// initializer again), as a new process would.
	p.workerEnded(gw, ExitMaxTasks, fmt.Sprintf("retired after %d calls (WithMaxTasksPerWorker)", p.maxTasks))
	go p.worker(nil, gw.id)
}

// addWorker registers a worker goroutine that starts, in place of worker replaces (0 for none).
func (p *GoroutinePool) addWorker(replaces int) *gworker {
	p.mu.Lock()
	p.workerSeq++
	gw := &gworker{id: p.workerSeq, replaces: replaces, started: time.Now()}
	p.gworkers[gw] = struct{}{}
	p.mu.Unlock()
	if replaces != 0 {
		p.obs.linkReplacement(replaces, gw.id)
	}
	return gw
}

// workerEnded records the end of a worker goroutine.
func (p *GoroutinePool) workerEnded(gw *gworker, reason ExitReason, detail string) {
	p.mu.Lock()
	delete(p.gworkers, gw)
	p.mu.Unlock()
	p.obs.addExit(WorkerExit{ID: gw.id, At: time.Now(), Reason: reason, Detail: detail})
}

// workerGone counts a worker goroutine that ended.
func (p *GoroutinePool) workerGone() {
	p.mu.Lock()
	p.live--
	if p.live == 0 && p.gone != nil {
		close(p.gone)
		p.gone = nil
	}
	p.mu.Unlock()
}

// next waits for a call to run and returns it, or nil once the pool ends, or recycle true when
// Recycle asked gw to end. cancel cancels the context the call will run with.
func (p *GoroutinePool) next(gw *gworker, cancel context.CancelFunc) (c *Call, recycle bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.state == poolClosed {
			return nil, false
		}
		if gw.recycle && p.state == poolOpen {
			return nil, true
		}
		if !p.paused {
			if c := p.queue.pop(); c != nil {
				c.g.cancel = cancel
				if p.watched.Load() || p.obs.observing() {
					c.g.ranAt = time.Now().UnixNano()
				}
				gw.cur = c
				p.running[c] = struct{}{}
				return c, false
			}
			p.signalIdleLocked()
			if p.state != poolOpen {
				return nil, false
			}
		}
		p.wake.Wait()
	}
}

// run runs call c on worker gw and completes it.
func (p *GoroutinePool) run(ctx context.Context, gw *gworker, c *Call) {
	g := &c.g
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = p.timeout
	}
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout*time.Duration(max(1, c.Chunk)), func() {
			p.abort(c, fmt.Errorf("mp: task %s: %w", c.Func, context.DeadlineExceeded))
		})
	}
	// The outcome is counted (before the caller learns of it, so that a snapshot taken once the
	// call returned counts it) only by whoever completes the call: here, or abort.
	end := callEnd{task: c.Func, items: c.Chunk, queuedAt: g.queuedAt, ranAt: g.ranAt, attempts: 1}
	if lc, ok := c.impl.(localCall); ok {
		var done int
		err := runProtected(func() error {
			var err error
			done, err = lc.runLocal(ctx, timeout)
			return err
		})
		if c.finished.CompareAndSwap(false, true) {
			end.err = err
			p.obs.complete(end)
			lc.finishLocal(done, err)
		}
	} else {
		value, done, err := runEncoded(ctx, c, timeout)
		if c.finished.CompareAndSwap(false, true) {
			end.err = err
			p.obs.complete(end)
			c.impl.finish(value, done, err)
		}
	}
	if timer != nil {
		timer.Stop()
	}
	p.mu.Lock()
	delete(p.running, c)
	gw.cur = nil
	gw.tasksDone++
	g.cancel = nil // the worker's context is not this call's to cancel any more
	stop := g.stopCtx
	p.signalIdleLocked()
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// runEncoded runs a call whose argument is encoded (made by NewCall) as a worker process would:
// it decodes the argument, runs the function and encodes the result.
func runEncoded(ctx context.Context, c *Call, timeout time.Duration) ([]byte, int, error) {
	e, ok := lookup(c.Func)
	if !ok {
		return nil, 0, fmt.Errorf("%w: %q", ErrNotRegistered, c.Func)
	}
	arg, err := c.Arg()
	if err != nil {
		return nil, 0, err
	}
	if c.Chunk > 0 {
		value, _, done, werr := e.runChunk(ctx, arg, nil, c.Chunk, timeout, false)
		if werr != nil {
			return value, done, fromWire(currentInfo().Name, currentInfo().Pid, werr)
		}
		return value, done, nil
	}
	value, werr := e.runOne(ctx, arg, nil, timeout)
	if werr != nil {
		return nil, 0, fromWire(currentInfo().Name, currentInfo().Pid, werr)
	}
	return value, 0, nil
}

// runProtected runs f, turning a panic into a *PanicError with the stack.
func runProtected(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Name: currentInfo().Name, Pid: currentInfo().Pid, Value: fmt.Sprint(r), Stack: string(debug.Stack())}
			if e, ok := r.(error); ok {
				pe.errs = []error{e}
			}
			err = pe
		}
	}()
	return f()
}

// signalIdleLocked wakes Shutdown when nothing is queued or running.
func (p *GoroutinePool) signalIdleLocked() {
	if p.idle != nil && len(p.running) == 0 && !p.queue.live() {
		close(p.idle)
		p.idle = nil
	}
}

// Shutdown stops the pool gracefully: it refuses new work (ErrClosed), lets queued and running
// calls finish, and returns once every worker goroutine has ended. When ctx ends first, it falls
// back to Close and returns ctx.Err(). With CancelPending, calls that have not started fail with
// context.Canceled instead of running. Calling Shutdown after the pool was ended returns nil.
func (p *GoroutinePool) Shutdown(ctx context.Context, opts ...ShutdownOption) error {
	so := shutdownOptions(opts)
	if p.zero() {
		return nil
	}
	p.mu.Lock()
	if p.state != poolOpen {
		p.mu.Unlock()
		return nil
	}
	p.state = poolShuttingDown
	p.paused = false // the queued calls are to run
	var dropped []*Call
	if so.cancelPending {
		dropped = p.queue.take()
	}
	idle, gone := make(chan struct{}), make(chan struct{})
	p.idle, p.gone = idle, gone
	p.signalIdleLocked()
	if p.live == 0 {
		close(gone)
		p.gone = nil
	}
	p.wake.Broadcast()
	p.mu.Unlock()
	for _, c := range dropped {
		p.abort(c, context.Canceled)
	}
	select {
	case <-idle:
	case <-ctx.Done():
		p.Close()
		return ctx.Err()
	}
	select {
	case <-gone:
	case <-ctx.Done():
		p.Close()
		return ctx.Err()
	}
	p.mu.Lock()
	p.state = poolClosed
	p.mu.Unlock()
	waitCallbacks(p)
	return nil
}

// Close stops the pool now: queued and running calls fail with ErrClosed at once, the running
// functions' contexts are cancelled, and every later call fails with ErrClosed. Close does not
// wait for functions that ignore their context: their goroutines end when they return, and their
// results are dropped. It waits for the callbacks of completed futures to run. Close is idempotent.
func (p *GoroutinePool) Close() error {
	if p.zero() {
		return nil
	}
	p.mu.Lock()
	p.state = poolClosed
	queued := p.queue.take()
	running := make([]*Call, 0, len(p.running))
	for c := range p.running {
		running = append(running, c)
	}
	p.wake.Broadcast()
	p.mu.Unlock()
	for _, c := range queued {
		p.abort(c, errGoroutinePoolClosedQueued)
	}
	for _, c := range running {
		p.abort(c, errGoroutinePoolClosedRunning)
	}
	waitCallbacks(p)
	return nil
}
