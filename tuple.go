package mp

import "context"

// Pair is an argument or result of two values, for functions of several arguments and tuple
// results without a named struct each: Python's starmap over (a, b) tuples, or a function that
// returns a, b. Its fields are exported, so the codec encodes it like any struct; A and B may be
// any types that cross processes.
//
//	Pow = mp.Register("pow", func(ctx context.Context, p mp.Pair[float64, int]) (float64, error) {
//		return math.Pow(p.A, float64(p.B)), nil
//	})
//	ys, err := mp.Map(ctx, pool, Pow, []mp.Pair[float64, int]{{2, 10}, {3, 2}})
type Pair[A, B any] struct {
	A A
	B B
}

// Triple is Pair for three values.
type Triple[A, B, C any] struct {
	A A
	B B
	C C
}

// MakePair returns Pair{a, b}, whose type arguments Go infers.
func MakePair[A, B any](a A, b B) Pair[A, B] { return Pair[A, B]{a, b} }

// MakeTriple returns Triple{a, b, c}.
func MakeTriple[A, B, C any](a A, b B, c C) Triple[A, B, C] { return Triple[A, B, C]{a, b, c} }

// MapAsync starts Map in the background and returns a future of its results at once: Python's
// map_async. Waiting on the future gives what Map returns; cancelling it (or ending ctx) cancels
// the tasks not yet done. OnDone works as for Submit's futures, as do AsCompleted, WaitAny and
// WaitAll.
func MapAsync[T, R any](ctx context.Context, ex Executor, f *Func[T, R], xs []T, opts ...CallOption) *Future[[]R] {
	fut := newFuture[[]R](ex)
	mctx, cancel := context.WithCancelCause(ctx)
	fut.setCancel(cancel)
	go func() {
		defer cancel(context.Canceled)
		rs, err := Map(mctx, ex, f, xs, opts...)
		fut.resolve(rs, err)
	}()
	return fut
}
