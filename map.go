package mp

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// chunkJob makes the job for items xs[lo:hi] of a map.
func chunkJob[T any](name string, xs []T, cfg *callConfig) (*job, error) {
	b, fds, err := encodeSlice("arguments of "+name, xs, true)
	if err != nil {
		return nil, err
	}
	return &job{fname: name, arg: b, chunk: len(xs), timeout: cfg.taskTimeout, retries: cfg.retries, fds: fds, nfds: len(fds)}, nil
}

// decodeChunk decodes the results of a chunk into dst, which has room for exactly done values.
func decodeChunk[R any](name string, value []byte, dst []R) error {
	if plainType(reflect.TypeFor[R]()) {
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
	rs, err := decodeSlice[R]("results of "+name, value, nil, len(dst))
	if err != nil {
		return err
	}
	copy(dst, rs)
	return nil
}

// Map runs f on every item of xs on the pool's workers and returns the results in order: Python's
// map. The items go to the workers in chunks (about four per worker unless WithChunkSize says
// otherwise). The first error — a task's, or ctx's — cancels the tasks not yet done and is
// returned, with no results. An argument the codec cannot encode is reported before anything runs.
func Map[T, R any](ctx context.Context, p *Pool, f *Func[T, R], xs []T, opts ...CallOption) ([]R, error) {
	cfg, err := buildCallConfig(opts)
	if err == nil {
		err = checkCall(p, f)
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
		size = max(1, (n+4*p.cfg.workers-1)/(4*p.cfg.workers))
		size = min(size, 1<<16)
	}
	var (
		remaining = int64((n + size - 1) / size)
		allDone   = make(chan struct{})
		failed    = make(chan error, 1)
		doneItems atomic.Int64
	)
	jobs := make([]*job, 0, remaining)
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		j, err := chunkJob(f.name, xs[lo:hi], &cfg)
		if err != nil {
			for _, j := range jobs {
				closeFDs(j.fds) // never sent
			}
			return nil, err
		}
		j.finish = func(value []byte, done int, err error) {
			if err == nil && done != hi-lo {
				err = fmt.Errorf("%w: %s: %d results for %d items", ErrProtocol, f.name, done, hi-lo)
			}
			if derr := decodeChunk(f.name, value, out[lo:lo+min(done, hi-lo)]); derr != nil && err == nil {
				err = derr
			}
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
		jobs = append(jobs, j)
	}
	stopProgress := startProgress(cfg.progress, n, doneItems.Load)
	defer stopProgress()
	p.submit(jobs...)
	abortAll := func(err error) {
		for _, j := range jobs {
			p.abort(j, err)
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
	job   *job
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
func MapSeq[T, R any](ctx context.Context, p *Pool, f *Func[T, R], seq iter.Seq[T], opts ...CallOption) iter.Seq2[R, error] {
	return mapSeq(ctx, p, f, seq, true, opts)
}

// MapSeqUnordered is MapSeq yielding results as they complete, in any order: Python's
// imap_unordered.
func MapSeqUnordered[T, R any](ctx context.Context, p *Pool, f *Func[T, R], seq iter.Seq[T], opts ...CallOption) iter.Seq2[R, error] {
	return mapSeq(ctx, p, f, seq, false, opts)
}

func mapSeq[T, R any](ctx context.Context, p *Pool, f *Func[T, R], seq iter.Seq[T], ordered bool, opts []CallOption) iter.Seq2[R, error] {
	return func(yield func(R, error) bool) {
		var zero R
		cfg, err := buildCallConfig(opts)
		if err == nil {
			err = checkCall(p, f)
		}
		if err != nil {
			yield(zero, err)
			return
		}
		// Without WithChunkSize, items go one by one at first, and the chunk size doubles while
		// chunks come back within a millisecond (halving when one takes over 20 ms), up to
		// maxSeqChunk: tiny tasks get batched, slow ones stay one per call.
		adaptive := cfg.chunk == 0
		size := max(1, cfg.chunk)
		window := 2 * p.cfg.workers
		next, stopPull := iter.Pull(seq)
		defer stopPull()

		var doneItems atomic.Int64
		stopProgress := startProgress(cfg.progress, -1, doneItems.Load)
		defer stopProgress()

		completed := make(chan *seqChunk[R], window)
		var inflight []*seqChunk[R] // in input order
		defer func() {
			for _, c := range inflight {
				p.abort(c.job, context.Canceled)
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
				j, err := chunkJob(f.name, items, &cfg)
				if err != nil {
					return err
				}
				c := &seqChunk[R]{job: j, done: make(chan struct{}), start: time.Now()}
				n := len(items)
				j.finish = func(value []byte, done int, err error) {
					c.took = time.Since(c.start)
					if err == nil && done != n {
						err = fmt.Errorf("%w: %s: %d results for %d items", ErrProtocol, f.name, done, n)
					}
					res := make([]R, min(done, n))
					if derr := decodeChunk(f.name, value, res); derr != nil && err == nil {
						err = derr
					}
					c.res, c.err = res, err
					doneItems.Add(int64(len(res)))
					close(c.done)
					if !ordered {
						completed <- c
					}
				}
				inflight = append(inflight, c)
				p.submit(j)
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
				switch {
				case c.took < time.Millisecond && len(c.res) == size && size < maxSeqChunk:
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
