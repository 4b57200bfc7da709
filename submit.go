package mp

import (
	"context"
	"fmt"
)

// checkCall validates what every pool call needs.
func checkCall[T, R any](p *Pool, f *Func[T, R]) error {
	if p == nil {
		return fmt.Errorf("%w: nil *Pool", ErrClosed)
	}
	if f == nil {
		return fmt.Errorf("%w: nil *Func", ErrNotRegistered)
	}
	if _, ok := lookup(f.name); !ok {
		return fmt.Errorf("%w: %q", ErrNotRegistered, f.name)
	}
	return nil
}

// Submit queues f(ctx, arg) on the pool and returns its future at once: Python's apply_async and
// executor.submit. The submission never blocks; the pool's queue is unbounded. The task is bound
// to ctx: when ctx ends before the task does, the task is cancelled as by Future.Cancel. Errors
// that stop the task from being queued — a nil or unregistered function, an argument the codec
// cannot encode (naming its type), a pool that was shut down (ErrClosed) — are the future's error.
func Submit[T, R any](ctx context.Context, p *Pool, f *Func[T, R], arg T, opts ...CallOption) *Future[R] {
	fut, j := newTask(ctx, p, f, arg, opts)
	if j != nil {
		bindContext(ctx, p, j)
		p.submit(j)
	}
	return fut
}

// bindContext cancels job j when ctx ends before it does.
func bindContext(ctx context.Context, p *Pool, j *job) {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { p.abort(j, context.Cause(ctx)) })
		j.stopCtx.Store(&stop)
		if j.finished.Load() {
			stop()
		}
	}
}

// newTask makes the future and job of one call; j is nil when the future failed already.
func newTask[T, R any](ctx context.Context, p *Pool, f *Func[T, R], arg T, opts []CallOption) (*Future[R], *job) {
	var cb *callbackRunner
	if p != nil {
		cb = p.cb
	}
	fut := newFuture[R](cb)
	var zero R
	cfg, err := buildCallConfig(opts)
	if err == nil {
		err = checkCall(p, f)
	}
	var b []byte
	var fds []int
	if err == nil {
		b, fds, err = encodeArg("argument of "+f.name, arg)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		closeFDs(fds)
		fut.resolve(zero, err)
		return fut, nil
	}
	j := &job{fname: f.name, arg: b, timeout: cfg.taskTimeout, retries: cfg.retries, fds: fds, nfds: len(fds)}
	j.finish = func(value []byte, done int, err error) {
		if stop := j.stopCtx.Load(); stop != nil {
			(*stop)()
		}
		if err != nil {
			fut.resolve(zero, err)
			return
		}
		var r R
		if err := decodeValue("result of "+f.name, value, &r); err != nil {
			fut.resolve(zero, err)
			return
		}
		fut.resolve(r, nil)
	}
	fut.mu.Lock()
	fut.cancel = func() { p.abort(j, context.Canceled) }
	fut.mu.Unlock()
	return fut, j
}

// Apply runs f(ctx, arg) on a worker of the pool and returns its result: Python's apply. When ctx
// ends first, the task is cancelled (see Future.Cancel) and Apply returns ctx.Err() at once.
//
// When a worker is idle and nothing is queued, Apply writes the call and reads the reply on its
// own goroutine: a round trip then costs two pipe transfers and no goroutine hand-off.
func Apply[T, R any](ctx context.Context, p *Pool, f *Func[T, R], arg T, opts ...CallOption) (R, error) {
	fut, j := newTask(ctx, p, f, arg, opts)
	if j != nil {
		if w := p.claimIdle(j); w != nil {
			w.applyDirect(ctx, j)
		} else {
			bindContext(ctx, p, j)
			p.submit(j)
		}
	}
	select {
	case <-fut.done:
		return fut.val, fut.err
	case <-ctx.Done():
		fut.Cancel()
		var zero R
		return zero, ctx.Err()
	}
}
