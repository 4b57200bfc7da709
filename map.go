package mp

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// chunkCall is the call of one chunk of a Map or MapSeq: items in, results into dst.
type chunkCall[T, R any] struct {
	Call
	f      *Func[T, R]
	items  []T
	dst    []R // len(items) results; the first done are valid once the call completes
	onDone func(done int, err error)
}

func newChunkCall[T, R any](f *Func[T, R], items []T, dst []R, cfg *callConfig, onDone func(done int, err error)) *chunkCall[T, R] {
	c := &chunkCall[T, R]{f: f, items: items, dst: dst, onDone: onDone}
	c.Call = Call{Func: f.name, Chunk: len(items), Timeout: cfg.taskTimeout, Retries: cfg.retries, impl: c}
	return c
}

func (c *chunkCall[T, R]) encode() ([]byte, []int, error) {
	return encodeSlice("arguments of "+c.f.name, c.items, true, !c.Call.inline)
}

func (c *chunkCall[T, R]) finish(value []byte, done int, err error) {
	n := len(c.items)
	if err == nil && done != n {
		err = fmt.Errorf("%w: %s: %d results for %d items", ErrProtocol, c.f.name, done, n)
	}
	done = max(0, min(done, n))
	if derr := decodeChunk(c.f.name, value, c.takeResFDs(), c.dst[:done]); derr != nil && err == nil {
		err = derr
	}
	c.onDone(done, err)
}

func (c *chunkCall[T, R]) runLocal(ctx context.Context, timeout time.Duration) (int, error) {
	stop := ctx.Done()
	for i, x := range c.items {
		select {
		case <-stop:
			return i, ctx.Err() // the chunk was aborted: stop between items
		default:
		}
		r, err := runWithTimeout(ctx, c.f.name, timeout, c.f.fn, x)
		if err != nil {
			return i, err
		}
		c.dst[i] = r
	}
	return len(c.items), nil
}

func (c *chunkCall[T, R]) finishLocal(done int, err error) { c.onDone(done, err) }

// executeAll starts calls on ex, and returns their abort functions, for abortCall. A *Pool
// encodes every argument before it queues any, so that an argument it cannot encode is reported
// (as err) before anything runs. The pools of this package queue them all under one lock, and
// their calls are aborted with no closure each: aborts is nil.
func executeAll(ex Executor, calls []*Call) ([]func(error), error) {
	switch p := ex.(type) {
	case *Pool:
		if !p.zero() {
			return nil, p.executeAll(calls)
		}
	case *GoroutinePool:
		if !p.zero() {
			p.executeAll(context.Background(), calls)
			return nil, nil
		}
	}
	aborts := make([]func(error), len(calls))
	for i, c := range calls {
		aborts[i] = ex.Execute(context.Background(), c)
	}
	return aborts, nil
}

// decodeChunk decodes the results of a chunk into dst, which has room for exactly done values.
func decodeChunk[R any](name string, value []byte, fds []int, dst []R) error {
	if plainType(reflect.TypeFor[R]()) {
		closeFDs(fds)
		var zero R
		size := int(unsafe.Sizeof(zero))
		if len(value) != len(dst)*size {
			return fmt.Errorf("%w: results of %s: %d bytes for %d values", ErrDecode, name, len(value), len(dst))
		}
		if len(dst) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(value)), value)
		}
		return nil
	}
	var rs []R
	if err := decodeResult("results of "+name, value, fds, &rs); err != nil {
		return err
	}
	if len(rs) != len(dst) {
		return fmt.Errorf("%w: results of %s: %d values, expected %d", ErrDecode, name, len(rs), len(dst))
	}
	copy(dst, rs)
	return nil
}

// Map runs f on every item of xs on the executor and returns the results in order: Python's map.
// The items go to the workers in chunks (about four per worker unless WithChunkSize says
// otherwise). The first error — a task's, or ctx's — cancels the tasks not yet done and is
// returned, with no results. On a *Pool an argument the codec cannot encode is reported before
// anything runs.
func Map[T, R any](ctx context.Context, ex Executor, f *Func[T, R], xs []T, opts ...CallOption) ([]R, error) {
	cfg, err := buildCallConfig(opts)
	if err == nil {
		err = checkExecutor(ex, f)
	}
	if err != nil {
		return nil, err
	}
	n := len(xs)
	out := make([]R, n)
	if n == 0 {
		return out, nil
	}
	size := cfg.chunk
	if size <= 0 {
		w := workersOf(ex)
		size = max(1, (n+4*w-1)/(4*w))
		size = min(size, 1<<16)
	}
	var (
		remaining = int64((n + size - 1) / size)
		allDone   = make(chan struct{})
		failed    = make(chan error, 1)
		doneItems atomic.Int64
	)
	calls := make([]*Call, 0, remaining)
	onDone := func(done int, err error) {
		doneItems.Add(int64(done))
		if err != nil {
			select {
			case failed <- err:
			default:
			}
		}
		if atomic.AddInt64(&remaining, -1) == 0 {
			close(allDone)
		}
	}
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		calls = append(calls, &newChunkCall(f, xs[lo:hi], out[lo:hi], &cfg, onDone).Call)
	}
	stopProgress := startProgress(cfg.progress, n, doneItems.Load)
	defer stopProgress()
	defer trackMapOn(ex, f.name, n, &doneItems)()
	aborts, err := executeAll(ex, calls)
	if err != nil {
		return nil, err
	}
	abortAll := func(err error) {
		for i, c := range calls {
			var abort func(error)
			if aborts != nil {
				abort = aborts[i]
			}
			abortCall(c, abort, err)
		}
	}
	select {
	case <-allDone:
		select {
		case err := <-failed:
			return nil, err
		default:
		}
		return out, nil
	case err := <-failed:
		abortAll(context.Canceled)
		return nil, err
	case <-ctx.Done():
		abortAll(context.Cause(ctx))
		return nil, ctx.Err()
	}
}

// startProgress reports progress every 100 ms until the returned function is called, which
// reports once more and waits for the reporter to end.
func startProgress(fn func(Progress), total int, done func() int64) func() {
	if fn == nil {
		return func() {}
	}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(Progress{Done: int(done()), Total: total, Elapsed: time.Since(start)})
			case <-stop:
				fn(Progress{Done: int(done()), Total: total, Elapsed: time.Since(start)})
				return
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
	}
}

// seqChunk is one chunk of a MapSeq in flight.
type seqChunk[R any] struct {
	call  *Call
	abort func(error) // see abortCall
	res   []R
	err   error
	done  chan struct{}
	start time.Time
	took  time.Duration // from submission to completion
}

// maxSeqChunk bounds the chunk size MapSeq grows to on its own.
const maxSeqChunk = 1024

// MapSeq runs f on every item of seq on the pool's workers and yields the results in input order:
// Python's imap. It is lazy and bounded: it reads seq only as far as two chunks per worker ahead
// of what has been yielded, so an endless input streams with back-pressure. The first error — a
// task's, or ctx's — is yielded with the zero value, and the sequence ends. Breaking out of the
// loop cancels what is outstanding.
//
// Items go one by one at first; while chunks come back within a millisecond the chunk size
// doubles, up to 1024 items, so that tiny tasks are batched while slow ones keep one item per
// call. WithChunkSize fixes the size instead (WithChunkSize(1) is Python's default).
func MapSeq[T, R any](ctx context.Context, ex Executor, f *Func[T, R], seq iter.Seq[T], opts ...CallOption) iter.Seq2[R, error] {
	return mapSeq(ctx, ex, f, seq, true, opts)
}

// MapSeqUnordered is MapSeq yielding results as they complete, in any order: Python's
// imap_unordered.
func MapSeqUnordered[T, R any](ctx context.Context, ex Executor, f *Func[T, R], seq iter.Seq[T], opts ...CallOption) iter.Seq2[R, error] {
	return mapSeq(ctx, ex, f, seq, false, opts)
}

func mapSeq[T, R any](ctx context.Context, ex Executor, f *Func[T, R], seq iter.Seq[T], ordered bool, opts []CallOption) iter.Seq2[R, error] {
	return func(yield func(R, error) bool) {
		var zero R
		cfg, err := buildCallConfig(opts)
		if err == nil {
			err = checkExecutor(ex, f)
		}
		if err != nil {
			yield(zero, err)
			return
		}
		// Without WithChunkSize, items go one by one at first, and the chunk size doubles while
		// chunks come back within a millisecond of the fastest chunk so far (the executor's own
		// cost of a call, which a cluster's round trip makes a few ms) and within 20 ms (halving
		// when one takes over 20 ms), up to maxSeqChunk: tiny tasks get batched, slow ones stay
		// one per call.
		adaptive := cfg.chunk == 0
		fastest := time.Duration(math.MaxInt64)
		size := max(1, cfg.chunk)
		window := 2 * workersOf(ex)
		next, stopPull := iter.Pull(seq)
		defer stopPull()

		var doneItems atomic.Int64
		stopProgress := startProgress(cfg.progress, -1, doneItems.Load)
		defer stopProgress()
		defer trackMapOn(ex, f.name, -1, &doneItems)()

		completed := make(chan *seqChunk[R], window)
		var inflight []*seqChunk[R] // in input order
		defer func() {
			for _, c := range inflight {
				abortCall(c.call, c.abort, context.Canceled)
			}
		}()
		exhausted := false
		fill := func() error {
			for !exhausted && len(inflight) < window {
				items := make([]T, 0, size)
				for len(items) < size {
					x, ok := next()
					if !ok {
						exhausted = true
						break
					}
					items = append(items, x)
				}
				if len(items) == 0 {
					return nil
				}
				c := &seqChunk[R]{done: make(chan struct{}), start: time.Now(), res: make([]R, len(items))}
				call := newChunkCall(f, items, c.res, &cfg, func(done int, err error) {
					c.took = time.Since(c.start)
					c.res, c.err = c.res[:done], err
					doneItems.Add(int64(done))
					close(c.done)
					if !ordered {
						completed <- c
					}
				})
				aborts, err := executeAll(ex, []*Call{&call.Call})
				if err != nil {
					return err
				}
				c.call = &call.Call
				if aborts != nil {
					c.abort = aborts[0]
				}
				inflight = append(inflight, c)
			}
			return nil
		}
		for {
			if err := fill(); err != nil {
				yield(zero, err)
				return
			}
			if len(inflight) == 0 {
				return
			}
			var c *seqChunk[R]
			if ordered {
				c = inflight[0]
				select {
				case <-c.done:
				case <-ctx.Done():
					yield(zero, ctx.Err())
					return
				}
			} else {
				select {
				case c = <-completed:
				case <-ctx.Done():
					yield(zero, ctx.Err())
					return
				}
			}
			for i, q := range inflight {
				if q == c {
					inflight = append(inflight[:i:i], inflight[i+1:]...)
					break
				}
			}
			if adaptive && c.err == nil {
				fastest = min(fastest, c.took)
				switch {
				case c.took < 20*time.Millisecond && c.took-fastest < time.Millisecond && len(c.res) == size && size < maxSeqChunk:
					size *= 2
				case c.took > 20*time.Millisecond && size > 1:
					size /= 2
				}
			}
			for _, r := range c.res {
				if !yield(r, nil) {
					return
				}
			}
			if c.err != nil {
				if !errors.Is(c.err, context.Canceled) || ctx.Err() == nil {
					yield(zero, c.err)
				} else {
					yield(zero, ctx.Err())
				}
				return
			}
		}
	}
}
