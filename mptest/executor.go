package mptest

import (
	"context"

	"github.com/mp-go/mp"
)

// Encoded returns an Executor that hands every call to ex in its encoded form only — the name
// of the function and the bytes of its argument, made with mp.NewCall — as a backend on other
// machines receives it. Run the tests of code written against mp.Executor on
// mptest.Encoded(pool) to find, on one machine, what would not cross to a cluster: an argument
// holding a handle (a Queue, a Mutex, shared memory) fails with an error matching
// mp.ErrNotSupported, and a value passed as is by a *mp.GoroutinePool arrives as a copy.
//
// It is also the smallest example of an Executor implemented outside package mp.
func Encoded(ex mp.Executor) mp.Executor { return encoded{ex} }

type encoded struct{ ex mp.Executor }

// Workers returns the wrapped executor's.
func (e encoded) Workers() int { return e.ex.Workers() }

// Execute encodes c's argument and executes a call made from the bytes on the wrapped executor,
// whose encoded result completes c.
func (e encoded) Execute(ctx context.Context, c *mp.Call) func(error) {
	arg, err := c.Arg()
	if err == nil {
		var fwd *mp.Call
		fwd, err = mp.NewCall(c.Func, arg, c.Chunk, func(r mp.Result) { c.Finish(r) })
		if err == nil {
			fwd.Timeout, fwd.Retries = c.Timeout, c.Retries
			abort := e.ex.Execute(ctx, fwd)
			return func(cause error) {
				c.Finish(mp.Result{Err: cause})
				abort(cause)
			}
		}
	}
	c.Finish(mp.Result{Err: err})
	return func(error) {}
}
