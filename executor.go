package mp

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Executor is where registered functions run: a *Pool runs them in worker processes, a
// *GoroutinePool on goroutines of this process, and other packages add more (a cluster, say).
// Apply, Submit, Map, MapSeq and MapSeqUnordered take any Executor, so the same code runs on each;
// everything above a single call — futures and their callbacks, AsCompleted, chunking, progress,
// the first error cancelling the rest, MapSeq's bounded window — is written once, above this
// interface, and behaves the same on every backend.
//
// An Executor sees calls, not typed values: a Call names a registered function and carries its
// argument, which the executor takes encoded (Call.Arg) and whose encoded result it hands back
// (Call.Finish). Any package can implement Executor. The contract:
//
//   - Execute starts c and returns without waiting for it to run (it must not block on the work;
//     a full queue is the executor's to hold, not the caller's to wait for).
//   - The executor completes c exactly once, with Call.Finish, from any goroutine — also when it
//     refuses c (a closed executor finishes it with an error matching ErrClosed), and also before
//     Execute returns. Later Finish calls are ignored, so racing paths may each call it.
//   - When ctx ends before c completes, or when the returned abort function is called, the
//     executor finishes c at once with the cause (context.Cause(ctx), or abort's argument) and
//     stops the work as well as it can: a call not yet started must never start; a started one
//     has its function's context cancelled.
//   - abort may be called any number of times, from any goroutine, before or after c completes.
//   - For a chunk (Call.Chunk > 0), the argument encodes Chunk items and the result the results
//     of the items that ran, in order, stopping at the first error: Result.Done says how many.
//
// Call.Timeout and Call.Retries carry the call's WithTaskTimeout and WithRetries; an executor
// applies what it can and documents the rest.
type Executor interface {
	// Execute starts c. See the type's documentation for the contract.
	Execute(ctx context.Context, c *Call) (abort func(cause error))
	// Workers returns how many calls the executor runs at the same time. Map sizes its chunks
	// from it (about four per worker), and MapSeq keeps two chunks per worker in flight.
	Workers() int
}

// Call is one call of a registered function, as an Executor sees it. The package functions
// (Submit, Map, …) make calls; executors run them. A Call made by this package carries the typed
// argument too, so an executor of this package that runs functions in the calling process passes
// it as is; every other executor takes it encoded, with Arg.
//
// A Call is completed once, by Finish. Its exported fields are set before Execute and are not to
// be changed by the executor.
type Call struct {
	// Func is the name the function was registered under (see Register).
	Func string
	// Chunk is 0 for a single call. For a chunk of a Map it is the number of items: the argument
	// encodes Chunk values, and the result as many results as ran (Result.Done).
	Chunk int
	// Timeout bounds each run of the function (for a chunk, each item's), as WithTaskTimeout
	// does; 0 leaves it to the executor's own default.
	Timeout time.Duration
	// Retries is how many more attempts the call gets when the process running it dies, as
	// WithRetries says; -1 leaves it to the executor's own default.
	Retries int

	impl     callImpl
	inline   bool  // encode big values inline, not by shared memory: the argument leaves the machine (Arg)
	resFDs   []int // the descriptors of the result's segments, while finish runs (bulk.go)
	finished atomic.Bool
	job      *job           // when a *Pool runs the call as a job: aborted through it, with no closure
	gpool    *GoroutinePool // when a GoroutinePool runs the call: aborted through it
	g        goCall         // the GoroutinePool's state of the call
}

// abortCall aborts c, which executeAll started with abort (nil when a *Pool or a GoroutinePool
// runs it).
func abortCall(c *Call, abort func(error), cause error) {
	switch {
	case c.job != nil:
		c.job.pool.abort(c.job, cause)
	case c.gpool != nil:
		c.gpool.abort(c, cause)
	default:
		abort(cause)
	}
}

// Result is the outcome of a Call, given to Call.Finish.
type Result struct {
	// Value is the encoded result: for a chunk, the encoded results of the first Done items.
	Value []byte
	// Done is, for a chunk, how many items ran to completion, in order. It is 0 for a single call.
	Done int
	// Err is the call's error; for a chunk, the error of item number Done. Value is ignored
	// when Err is set, except for a chunk's first Done results.
	Err error
}

// callImpl is what lies behind a Call: the typed call of Submit or Map, or the encoded call of
// NewCall.
type callImpl interface {
	// encode returns the encoded argument and the descriptors of the handles it holds, which
	// the caller owns from then on.
	encode() ([]byte, []int, error)
	// finish delivers the outcome; it runs once.
	finish(value []byte, done int, err error)
}

// localCall is implemented by the calls of this package's functions, which carry their typed
// argument: an executor in this process runs them without encoding anything.
type localCall interface {
	// runLocal runs the function on the argument, each run bounded by timeout when it is
	// positive, storing its results where finishLocal finds them, and returns how many items
	// completed (for a chunk) and the error.
	runLocal(ctx context.Context, timeout time.Duration) (done int, err error)
	// finishLocal delivers the outcome that runLocal stored.
	finishLocal(done int, err error)
}

// Arg returns the encoded argument of the call, for an executor that sends it elsewhere. An
// argument that holds handles (a Queue, a Mutex, a Conn, shared memory…) can only go to worker
// processes of this machine, by descriptor: for it Arg returns an error matching
// ErrNotSupported, which the executor passes to Finish.
func (c *Call) Arg() ([]byte, error) {
	if c == nil || c.impl == nil {
		return nil, fmt.Errorf("%w: Arg of a nil or zero *mp.Call", ErrInvalidOption)
	}
	c.inline = true
	b, fds, err := c.impl.encode()
	if err != nil {
		return nil, err
	}
	if len(fds) > 0 {
		closeFDs(fds)
		return nil, fmt.Errorf("%w: the argument of %s holds handles (queues, locks, pipes or shared memory), which only worker processes on this machine can receive; pass them to a *mp.Pool's tasks, or send plain values", ErrNotSupported, c.Func)
	}
	return b, nil
}

// argWithHandles returns the encoded argument and the descriptors of its handles, for the
// process pool, which owns them from then on.
func (c *Call) argWithHandles() ([]byte, []int, error) { return c.impl.encode() }

// Finish completes the call with r and reports whether it did: false when the call was complete
// already (the first Finish wins). It may be called from any goroutine. The result's bytes are
// decoded before Finish returns and may be reused afterwards.
func (c *Call) Finish(r Result) bool {
	return c.complete(r.Value, r.Done, r.Err)
}

func (c *Call) complete(value []byte, done int, err error) bool {
	return c.completeFDs(value, nil, done, err)
}

// completeFDs is complete for a result whose big values arrived in shared memory segments, fds,
// which it owns: finish takes them from resFDs, and those it leaves are closed.
func (c *Call) completeFDs(value []byte, fds []int, done int, err error) bool {
	if c == nil || c.impl == nil || !c.finished.CompareAndSwap(false, true) {
		closeFDs(fds)
		return false
	}
	c.resFDs = fds
	c.impl.finish(value, done, err)
	closeFDs(c.resFDs)
	c.resFDs = nil
	return true
}

// takeResFDs returns the descriptors of the result's segments, which the caller owns from then on.
func (c *Call) takeResFDs() []int {
	fds := c.resFDs
	c.resFDs = nil
	return fds
}

// Finished reports whether the call has completed.
func (c *Call) Finished() bool { return c.finished.Load() }

// NewCall makes a call of the function registered as name with an already encoded argument, for
// code that forwards calls it received as bytes (a cluster's worker agent, a test executor) to an
// Executor. chunk is the number of items arg encodes, or 0 for a single call. done receives the
// outcome exactly once, with the result still encoded; it must not block for long, as it runs on
// the executor's goroutine. The call's Timeout and Retries start as 0 and -1 (the executor's
// defaults). A name that was not registered is an ErrNotRegistered error, chunk < 0 or a nil
// done an ErrInvalidOption.
func NewCall(name string, arg []byte, chunk int, done func(Result)) (*Call, error) {
	if _, ok := lookup(name); !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotRegistered, name)
	}
	if chunk < 0 {
		return nil, fmt.Errorf("%w: NewCall(%q) with chunk %d: the number of items cannot be negative", ErrInvalidOption, name, chunk)
	}
	if done == nil {
		return nil, fmt.Errorf("%w: NewCall(%q) with a nil done function", ErrInvalidOption, name)
	}
	ec := &encodedCall{arg: arg, done: done}
	ec.Call = Call{Func: name, Chunk: chunk, Retries: -1, impl: ec}
	return &ec.Call, nil
}

// encodedCall is a call made by NewCall: its argument and result stay encoded.
type encodedCall struct {
	Call
	arg  []byte
	done func(Result)
}

func (c *encodedCall) encode() ([]byte, []int, error) { return c.arg, nil, nil }

func (c *encodedCall) finish(value []byte, done int, err error) {
	if fds := c.takeResFDs(); err == nil && len(fds) > 0 {
		// The bytes go on elsewhere: put the big values back inline.
		if e, ok := lookup(c.Func); ok {
			value, err = e.inlineResult(value, fds, c.Chunk)
		} else {
			closeFDs(fds)
		}
	}
	c.done(Result{Value: value, Done: done, Err: err})
}

// checkExecutor validates what every call needs.
func checkExecutor[T, R any](ex Executor, f *Func[T, R]) error {
	if ex == nil {
		return fmt.Errorf("%w: nil Executor", ErrClosed)
	}
	if f == nil {
		return fmt.Errorf("%w: nil *Func", ErrNotRegistered)
	}
	if _, ok := lookup(f.name); !ok {
		return fmt.Errorf("%w: %q", ErrNotRegistered, f.name)
	}
	return nil
}

// workersOf returns ex.Workers(), at least 1.
func workersOf(ex Executor) int { return max(1, ex.Workers()) }
