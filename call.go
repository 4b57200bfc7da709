package mp

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/mp-go/mp/internal/wire"
)

// What a child does with one call of a registered function: decode the argument, run the
// function (bounded by the call's timeout, a panic caught with its stack), encode the result or
// the error for the wire. A Process's child runs one call (prepare, then callProtected); a pool
// worker runs call after call, one argument at a time (runOne) or a chunk of a map (runChunk).

// caller is the untyped view of a registered function, as the registry holds it: the *Func[T, R]
// itself, whose methods below know T and R.
type caller interface {
	// prepare decodes the argument and returns the call, ready to run. A Process decodes before
	// the handshake completes, so that a bad argument is reported by Start rather than as a
	// failure of the function. It owns fds, the descriptors of the handles in the argument.
	// The run returned encodes big values in its result by shared memory, returning their
	// descriptors, which its caller owns.
	prepare(arg []byte, fds []int) (run func(ctx context.Context) ([]byte, []int, error), err error)
	// runOne runs the function on one encoded argument and returns the encoded result, or the
	// error (a panic included). It owns fds.
	runOne(ctx context.Context, arg []byte, fds []int, timeout time.Duration) ([]byte, *wire.Error)
	// runOneShared is runOne for a worker process: a big result goes by shared memory (bulk.go),
	// its descriptors returned with it, which the caller owns.
	runOneShared(ctx context.Context, arg []byte, fds []int, timeout time.Duration) ([]byte, []int, *wire.Error)
	// inlineResult re-encodes a result encoded by runOneShared (or, for a chunk of n > 0 items,
	// the results encoded by runChunk with bulk set), with its descriptors (which it owns), as
	// runOne (runChunk) would have without them: for a caller that passes the bytes on.
	inlineResult(value []byte, fds []int, n int) ([]byte, error)
	// runChunk runs the function on each of n arguments encoded as one slice, in order, stopping
	// at the first error or panic. It returns the encoded results of the first done arguments
	// and, if done < n, the error of argument number done. It owns fds. With bulk set (a worker
	// process), big values in the results go by shared memory, their descriptors returned with
	// them, which the caller owns.
	runChunk(ctx context.Context, args []byte, fds []int, n int, timeout time.Duration, bulk bool) (results []byte, rfds []int, done int, err *wire.Error)
}

// prepare is caller.prepare: decode now, run later (without a timeout: a Process has none).
func (f *Func[T, R]) prepare(arg []byte, fds []int) (func(context.Context) ([]byte, []int, error), error) {
	var x T
	if err := decodeArg("argument of "+f.name, arg, fds, &x); err != nil {
		return nil, err
	}
	return func(ctx context.Context) ([]byte, []int, error) {
		return f.runEncode(ctx, x, 0, true)
	}, nil
}

// runOne is caller.runOne: a pool call of one argument (Submit, Apply).
func (f *Func[T, R]) runOne(ctx context.Context, arg []byte, fds []int, timeout time.Duration) ([]byte, *wire.Error) {
	out, _, werr := f.run(ctx, arg, fds, timeout, false)
	return out, werr
}

// runOneShared is caller.runOneShared.
func (f *Func[T, R]) runOneShared(ctx context.Context, arg []byte, fds []int, timeout time.Duration) ([]byte, []int, *wire.Error) {
	return f.run(ctx, arg, fds, timeout, true)
}

// run is runOne, passing a big result by shared memory when bulk is set.
func (f *Func[T, R]) run(ctx context.Context, arg []byte, fds []int, timeout time.Duration, bulk bool) ([]byte, []int, *wire.Error) {
	var x T
	if err := decodeArg("argument of "+f.name, arg, fds, &x); err != nil {
		return nil, nil, toWire(err)
	}
	var out []byte
	var rfds []int
	werr := protect(func() error {
		var err error
		out, rfds, err = f.runEncode(ctx, x, timeout, bulk)
		return err
	})
	if werr != nil {
		closeFDs(rfds)
		return nil, nil, werr
	}
	return out, rfds, nil
}

// inlineResult is caller.inlineResult.
func (f *Func[T, R]) inlineResult(value []byte, fds []int, n int) ([]byte, error) {
	if n > 0 {
		rs := make([]R, n)
		if err := decodeChunk(f.name, value, fds, rs); err != nil {
			return nil, err
		}
		b, _, err := encodeSlice("results of "+f.name, rs, false, false)
		return b, err
	}
	var r R
	if err := decodeResult("result of "+f.name, value, fds, &r); err != nil {
		return nil, err
	}
	return encodeValue("result of "+f.name, r)
}

// runChunk is caller.runChunk: a chunk of a Map or MapSeq (even a chunk of one item). It checks
// for an abort every 64 items, and each item gets its own timeout.
func (f *Func[T, R]) runChunk(ctx context.Context, args []byte, fds []int, n int, timeout time.Duration, bulk bool) ([]byte, []int, int, *wire.Error) {
	xs, err := decodeSlice[T]("arguments of "+f.name, args, fds, n)
	if err != nil {
		return nil, nil, 0, toWire(err)
	}
	rs := make([]R, 0, len(xs))
	werr := protect(func() error {
		done := ctx.Done()
		for i, x := range xs {
			if i&63 == 0 {
				select {
				case <-done:
					return ctx.Err() // the chunk was aborted: stop between items
				default:
				}
			}
			r, err := runWithTimeout(ctx, f.name, timeout, f.fn, x)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		return nil
	})
	out, rfds, err := encodeSlice("results of "+f.name, rs, false, bulk)
	if err != nil {
		return nil, nil, 0, toWire(err)
	}
	return out, rfds, len(rs), werr
}

// runEncode runs the function on x, bounded by timeout when it is positive, and encodes its
// result, its big values by shared memory when bulk is set (the descriptors returned are the
// caller's).
func (f *Func[T, R]) runEncode(ctx context.Context, x T, timeout time.Duration, bulk bool) ([]byte, []int, error) {
	r, err := runWithTimeout(ctx, f.name, timeout, f.fn, x)
	if err != nil {
		return nil, nil, err
	}
	return encodeWith("result of "+f.name, r, false, bulk)
}

// runWithTimeout calls fn(ctx, x). A positive timeout bounds the call: fn's ctx ends after it,
// and a call that returns without error but after its deadline fails all the same, since its
// caller has been told that it timed out (see WithTaskTimeout). The function name is for the
// error message.
func runWithTimeout[T, R any](ctx context.Context, name string, timeout time.Duration, fn func(context.Context, T) (R, error), x T) (R, error) {
	if timeout <= 0 {
		return fn(ctx, x)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, err := fn(cctx, x)
	if err == nil && cctx.Err() == context.DeadlineExceeded {
		var zero R
		return zero, fmt.Errorf("mp: task %s ran past its timeout of %v: %w", name, timeout, context.DeadlineExceeded)
	}
	return r, err
}

// callProtected runs a prepared call, turning its error or its panic (with the stack) into a wire
// error.
func callProtected(ctx context.Context, run func(context.Context) ([]byte, []int, error)) (value []byte, fds []int, werr *wire.Error) {
	werr = protect(func() error {
		var err error
		value, fds, err = run(ctx)
		return err
	})
	if werr != nil {
		closeFDs(fds)
		value, fds = nil, nil
	}
	return value, fds, werr
}

// protect runs f, turning its error or its panic (with the stack) into a wire error.
func protect(f func() error) (werr *wire.Error) {
	defer func() {
		if r := recover(); r != nil {
			werr = &wire.Error{Message: fmt.Sprint(r), Type: fmt.Sprintf("%T", r), Panic: true, Stack: string(debug.Stack())}
			if e, ok := r.(error); ok {
				ew := toWire(e)
				werr.Codes, werr.Values = ew.Codes, ew.Values
			}
		}
	}()
	if err := f(); err != nil {
		return toWire(err)
	}
	return nil
}
