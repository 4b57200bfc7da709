package mp

import (
	"context"
	"fmt"
	"iter"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
)

// Future is the pending result of a task started with Submit, on any Executor: Python's
// AsyncResult and concurrent.futures.Future.
//
// A Future is safe for concurrent use; Wait may be called any number of times, from any
// goroutine, and returns the same result each time. It lives in the process that submitted the
// task and cannot be passed to another. It costs a small allocation and a channel; a callback
// (OnDone) costs a hand-off to the executor's callback goroutine.
type Future[R any] struct {
	done   chan struct{}
	val    R
	err    error
	cancel func(error) // aborts the task; nil once it is done

	cancelled atomic.Bool // Cancel completed the future

	mu        sync.Mutex
	callbacks []func(R, error)
	ex        Executor // whose callback runner runs the callbacks
}

func newFuture[R any](ex Executor) *Future[R] {
	return &Future[R]{done: make(chan struct{}), ex: ex}
}

// setCancel gives the future the abort function of its call, unless it is done already.
func (f *Future[R]) setCancel(abort func(error)) {
	f.mu.Lock()
	select {
	case <-f.done:
	default:
		f.cancel = abort
	}
	f.mu.Unlock()
}

// resolve completes the future; the first call wins.
func (f *Future[R]) resolve(v R, err error) {
	f.mu.Lock()
	select {
	case <-f.done:
		f.mu.Unlock()
		return
	default:
	}
	f.val, f.err = v, err
	cbs := f.callbacks
	f.callbacks = nil
	f.cancel = nil
	close(f.done)
	f.mu.Unlock()
	for _, fn := range cbs {
		f.runCallback(fn)
	}
}

func (f *Future[R]) runCallback(fn func(R, error)) {
	runCallback(f.ex, func() { fn(f.val, f.err) })
}

// Wait waits for the task and returns its result: the function's value, or its error (a
// *ProcessError, a *PanicError, an error matching ErrWorkerDied when its worker died, ErrClosed
// when the pool was closed first, context.Canceled after Cancel). ctx bounds the waiting only:
// when it ends first, Wait returns ctx.Err() and the task goes on.
func (f *Future[R]) Wait(ctx context.Context) (R, error) {
	if f == nil || f.done == nil {
		var zero R
		return zero, errZeroFuture
	}
	select {
	case <-f.done: // a result that is there wins over an ended ctx, as result(timeout=0) returns it
		return f.val, f.err
	default:
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// Done returns a channel that is closed once the future has its result. A nil or zero Future,
// not made by Submit, is done, and Wait returns an error matching ErrClosed.
func (f *Future[R]) Done() <-chan struct{} {
	if f == nil || f.done == nil {
		return closedChan
	}
	return f.done
}

// errZeroFuture is the error of a nil or zero Future.
var errZeroFuture = fmt.Errorf("%w: a nil or zero *mp.Future; futures come from mp.Submit", ErrClosed)

// closedChan is a closed channel: the Done of a nil or zero Future.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Cancel cancels the task: a task still queued never runs; a running one has its context
// cancelled. On a *Pool its worker is killed and replaced if it does not return within the
// pool's cancel grace; on a *GoroutinePool a function that ignores its context runs on until it
// returns. The future completes at once with context.Canceled. Cancel reports whether it did
// that — false when the future had completed already.
func (f *Future[R]) Cancel() bool {
	if f == nil || f.done == nil {
		return false
	}
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	select {
	case <-f.done:
		return false
	default:
	}
	if cancel != nil {
		cancel(context.Canceled)
	}
	var zero R
	f.resolve(zero, context.Canceled)
	select {
	case <-f.done:
		if f.err == context.Canceled {
			f.cancelled.Store(true)
			return true
		}
		return false
	default:
		return false
	}
}

// Cancelled reports whether Cancel completed the future: Python's Future.cancelled. (A task
// whose ctx ended, or that returned context.Canceled itself, was not cancelled by Cancel; its
// Wait says what happened.)
//
// A Future has no Running: the executor does not tell the future when a worker picks its call
// up, and on a *Pool that happens in another process, so any answer would be stale by the time
// it was read. Python's Future.exception() is Wait's error; to ask without blocking, select on
// Done first:
//
//	select {
//	case <-f.Done():
//		_, err := f.Wait(ctx) // returns at once, also when ctx has ended
//	default:
//		// still pending (queued or running)
//	}
func (f *Future[R]) Cancelled() bool {
	return f != nil && f.cancelled.Load()
}

// OnDone arranges for fn to be called with the result once the task is done — Python's
// apply_async(callback=..., error_callback=...) and add_done_callback. Callbacks run in this (the
// parent) process, one at a time, in the order their futures completed; a callback that panics is
// reported on standard error and does not disturb the pool. If the future is done already, fn is
// scheduled at once.
func (f *Future[R]) OnDone(fn func(v R, err error)) {
	if f == nil || f.done == nil {
		var zero R
		runCallback(nil, func() { fn(zero, errZeroFuture) })
		return
	}
	f.mu.Lock()
	select {
	case <-f.done:
		f.mu.Unlock()
		f.runCallback(fn)
		return
	default:
	}
	f.callbacks = append(f.callbacks, fn)
	f.mu.Unlock()
}

// Doner is anything with a Done channel, such as a *Future or a *Process: what WaitAny and WaitAll
// wait for.
type Doner interface {
	Done() <-chan struct{}
}

// WaitAny waits until one of ds is done and returns its index (the lowest, if several are), or
// -1 and ctx.Err() when ctx ends first. With no ds it returns -1 and nil.
func WaitAny(ctx context.Context, ds ...Doner) (int, error) {
	if len(ds) == 0 {
		return -1, nil
	}
	for i, d := range ds {
		select {
		case <-d.Done():
			return i, nil
		default:
		}
	}
	cases := make([]reflect.SelectCase, 0, len(ds)+1)
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, d := range ds {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(d.Done())})
	}
	chosen, _, _ := reflect.Select(cases)
	if chosen == 0 {
		return -1, ctx.Err()
	}
	return chosen - 1, nil
}

// WaitAll waits until every one of ds is done, or returns ctx.Err() when ctx ends first.
func WaitAll(ctx context.Context, ds ...Doner) error {
	for _, d := range ds {
		select {
		case <-d.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// AsCompleted yields the futures as they complete, each once (a future given several times is
// yielded once), with the task's error — what Wait would return, nil when the task succeeded — as
// MapSeq yields a task's error: Python's as_completed, where f.result() raises. Futures that are
// done already come first, in the order given, even when ctx has ended. When ctx ends before the
// rest, it yields (nil, ctx.Err()) and stops: a nil future tells ctx's error from a task's.
// Breaking out of the loop leaves the remaining futures running.
//
//	for f, err := range mp.AsCompleted(ctx, futs...) {
//		if f == nil {
//			return err // ctx ended
//		}
//		if err != nil {
//			log.Print(err) // this task failed; the others go on
//			continue
//		}
//		v, _ := f.Wait(ctx) // done: returns at once
//	}
func AsCompleted[R any](ctx context.Context, futs ...*Future[R]) iter.Seq2[*Future[R], error] {
	return func(yield func(*Future[R], error) bool) {
		seen := make(map[*Future[R]]bool, len(futs))
		var rest []*Future[R]
		for _, f := range futs {
			if seen[f] {
				continue
			}
			seen[f] = true
			select {
			case <-f.Done():
				if !yield(f, f.taskErr()) {
					return
				}
			default:
				rest = append(rest, f)
			}
		}
		futs := rest
		if len(futs) == 0 {
			return
		}
		ready := make(chan *Future[R], len(futs))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		defer wg.Wait()
		defer close(stop) // runs first: releases the watchers, then wg.Wait waits for them
		for _, f := range futs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-f.Done():
					ready <- f
				case <-stop:
				}
			}()
		}
		for range futs {
			select {
			case f := <-ready:
				if !yield(f, f.taskErr()) {
					return
				}
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
	}
}

// ReturnWhen says when Wait returns: Python's return_when.
type ReturnWhen int

const (
	// AllCompleted returns when every future is done.
	AllCompleted ReturnWhen = iota
	// FirstCompleted returns when any future is done.
	FirstCompleted
	// FirstException returns when any future is done with an error, or when all are done.
	FirstException
)

// Wait waits for futs as when says and splits them into those done and those not yet done, each
// in the order given (a future given several times is listed once): Python's
// concurrent.futures.wait(fs, timeout, return_when). The timeout is ctx's: when ctx ends first,
// Wait returns the split at that moment and ctx.Err() (context.DeadlineExceeded for a timeout,
// where Python returns silently). The futures' own errors are theirs to Wait for; they are not
// Wait's error.
//
//	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
//	defer cancel()
//	done, notDone, err := mp.Wait(ctx, mp.FirstException, futs...)
func Wait[R any](ctx context.Context, when ReturnWhen, futs ...*Future[R]) (done, notDone []*Future[R], err error) {
	for f, ferr := range AsCompleted(ctx, futs...) {
		if f == nil {
			err = ferr
			break
		}
		if when == FirstCompleted || (when == FirstException && ferr != nil) {
			break
		}
	}
	seen := make(map[*Future[R]]bool, len(futs))
	for _, f := range futs {
		if seen[f] {
			continue
		}
		seen[f] = true
		select {
		case <-f.Done():
			done = append(done, f)
		default:
			notDone = append(notDone, f)
		}
	}
	return done, notDone, err
}

// taskErr returns the error of a done future: what Wait returns.
func (f *Future[R]) taskErr() error {
	if f == nil || f.done == nil {
		return errZeroFuture
	}
	return f.err
}

// callbackRunner runs the done callbacks of one executor's futures in the parent, one at a time,
// in the order their futures completed — as Python's pool runs callbacks on its result-handler
// thread. A callback that panics is reported on standard error and does not stop the others. A
// runner exists only while it has callbacks to run: its goroutine ends, and it leaves the table,
// when its queue is empty.
type callbackRunner struct {
	queue []func()
	done  chan struct{} // closed when the runner's goroutine ends
}

// callbackRunners holds the runners with work, by executor; the lock guards their queues too.
var callbackRunners struct {
	sync.Mutex
	byKey map[any]*callbackRunner
}

// anyExecutor is the key of the runner of executors that cannot be map keys.
type anyExecutor struct{}

func callbackKey(ex Executor) any {
	if ex == nil || !reflect.TypeOf(ex).Comparable() {
		return anyExecutor{}
	}
	return ex
}

// runCallback queues fn on the runner of ex, starting the runner if it has none.
func runCallback(ex Executor, fn func()) {
	key := callbackKey(ex)
	callbackRunners.Lock()
	r := callbackRunners.byKey[key]
	if r == nil {
		if callbackRunners.byKey == nil {
			callbackRunners.byKey = make(map[any]*callbackRunner)
		}
		r = &callbackRunner{done: make(chan struct{})}
		callbackRunners.byKey[key] = r
		go r.loop(key)
	}
	r.queue = append(r.queue, fn)
	callbackRunners.Unlock()
}

func (r *callbackRunner) loop(key any) {
	for {
		callbackRunners.Lock()
		if len(r.queue) == 0 {
			delete(callbackRunners.byKey, key)
			close(r.done)
			callbackRunners.Unlock()
			return
		}
		fn := r.queue[0]
		r.queue[0] = nil
		r.queue = r.queue[1:]
		callbackRunners.Unlock()
		safeCallback(fn)
	}
}

// waitCallbacks waits until the callbacks queued for ex's futures have run. A callback queued
// meanwhile is waited for too.
func waitCallbacks(ex Executor) {
	for {
		callbackRunners.Lock()
		r := callbackRunners.byKey[callbackKey(ex)]
		callbackRunners.Unlock()
		if r == nil {
			return
		}
		<-r.done
	}
}

func safeCallback(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "mp: a future's done callback panicked: %v\n", r)
		}
	}()
	fn()
}
