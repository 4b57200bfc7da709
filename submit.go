package mp

import (
	"context"
	"time"
)

// Submit starts f(ctx, arg) on the executor and returns its future: Python's apply_async and
// executor.submit. On a *Pool, before it returns, Submit encodes the argument in the caller's
// goroutine and queues the encoded call; it never waits for a worker, as the queue is unbounded.
// Encoding costs time in proportion to the argument: a []byte, string or slice of numbers of
// BulkThreshold bytes or more is copied once into a shared memory segment (50–70 ms for 64 MiB
// on a busy 2-core machine), or not at all when the same value, unchanged, was sent a moment ago
// (its segment is reused: N pending calls with the same big argument hold one copy of it);
// anything else is encoded into the call, which holds that memory until a worker takes it. On a GoroutinePool
// nothing is encoded. The task is bound to ctx: when ctx ends before the task does, the task is
// cancelled as by Future.Cancel, so a request-scoped ctx cancels the work when the request ends
// (give context.WithoutCancel(ctx) to let it go on). Errors that stop the task from being queued —
// a nil or unregistered function, an argument the codec cannot encode (naming its type), an
// executor that was shut down (ErrClosed) — are the future's error.
func Submit[T, R any](ctx context.Context, ex Executor, f *Func[T, R], arg T, opts ...CallOption) *Future[R] {
	c, err := newTaskCall(ctx, ex, f, arg, opts)
	if err != nil {
		return c.fut
	}
	c.fut.setCancel(ex.Execute(ctx, &c.Call))
	return c.fut
}

// Apply runs f(ctx, arg) on the executor and returns its result: Python's apply. When ctx ends
// first, the task is cancelled (see Future.Cancel) and Apply returns ctx.Err() at once.
//
// On a *Pool, when a worker is idle and nothing is queued, Apply writes the call and reads the
// reply on its own goroutine: a round trip then costs two pipe transfers and no goroutine
// hand-off.
func Apply[T, R any](ctx context.Context, ex Executor, f *Func[T, R], arg T, opts ...CallOption) (R, error) {
	c, err := newTaskCall(ctx, ex, f, arg, opts)
	if err != nil {
		return c.fut.val, c.fut.err
	}
	fut := c.fut
	if p, ok := ex.(*Pool); ok && p != nil {
		p.apply(ctx, &c.Call)
	} else {
		fut.setCancel(ex.Execute(ctx, &c.Call))
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

// taskCall is the call of Submit or Apply: one argument, one result, one future.
type taskCall[T, R any] struct {
	Call
	f   *Func[T, R]
	arg T
	res R // set by runLocal
	fut *Future[R]
}

// newTaskCall makes the call and future of one task. When the task cannot be queued, the future
// has failed already and err says why.
func newTaskCall[T, R any](ctx context.Context, ex Executor, f *Func[T, R], arg T, opts []CallOption) (*taskCall[T, R], error) {
	c := &taskCall[T, R]{f: f, arg: arg, fut: newFuture[R](ex)}
	cfg, err := buildCallConfig(opts)
	if err == nil {
		err = checkExecutor(ex, f)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		var zero R
		c.fut.resolve(zero, err)
		return c, err
	}
	c.Call = Call{Func: f.name, Timeout: cfg.taskTimeout, Retries: cfg.retries, impl: c}
	return c, nil
}

func (c *taskCall[T, R]) encode() ([]byte, []int, error) {
	return encodeWith("argument of "+c.f.name, c.arg, true, !c.Call.inline)
}

func (c *taskCall[T, R]) finish(value []byte, _ int, err error) {
	var r R
	if fds := c.takeResFDs(); err == nil {
		err = decodeResult("result of "+c.f.name, value, fds, &r)
	} else {
		closeFDs(fds)
	}
	if err != nil {
		var zero R
		c.fut.resolve(zero, err)
		return
	}
	c.fut.resolve(r, nil)
}

func (c *taskCall[T, R]) runLocal(ctx context.Context, timeout time.Duration) (int, error) {
	r, err := runWithTimeout(ctx, c.f.name, timeout, c.f.fn, c.arg)
	c.res = r
	return 0, err
}

func (c *taskCall[T, R]) finishLocal(_ int, err error) {
	if err != nil {
		var zero R
		c.fut.resolve(zero, err)
		return
	}
	c.fut.resolve(c.res, nil)
}
