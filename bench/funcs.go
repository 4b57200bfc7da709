//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-go/mp"
)

// The functions the workloads run in mp children. They are registered at package level, so that
// every binary importing this package (the compare command, the test binaries) knows them in its
// children too.
var (
	// Empty does nothing: the body of spawn_join.
	Empty = mp.Register("bench.empty", func(ctx context.Context, _ struct{}) (struct{}, error) {
		return struct{}{}, nil
	})

	// Square returns x*x: the body of run_roundtrip.
	Square = mp.Register("bench.square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})

	// Idle blocks until its context is cancelled or d has passed: the body of idle_rss.
	Idle = mp.Register("bench.idle", func(ctx context.Context, d time.Duration) (struct{}, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return struct{}{}, nil
	})
)

// StartWait starts a process running Empty and waits for it to end: the operation of
// spawn_join. It returns how long Start took and how long Start and Wait took together.
func StartWait(ctx context.Context) (start, total time.Duration, err error) {
	t0 := time.Now()
	p := mp.NewProcess(Empty, struct{}{})
	if err := p.Start(ctx); err != nil {
		return 0, 0, err
	}
	t1 := time.Now()
	if err := p.Wait(ctx); err != nil {
		return 0, 0, err
	}
	return t1.Sub(t0), time.Since(t0), nil
}

// RunSquare runs Square(7) in a fresh process with mp.Run and checks that 49 came back: the
// operation of run_roundtrip.
func RunSquare(ctx context.Context) error {
	v, err := mp.Run(ctx, Square, 7)
	if err != nil {
		return err
	}
	if v != 49 {
		return fmt.Errorf("bench: Run(Square, 7) = %d, want 49", v)
	}
	return nil
}

// StartPool starts a pool of n workers and runs one call on each, so that every worker has
// answered its handshake and served a call before anything is timed.
func StartPool(ctx context.Context, n int) (*mp.Pool, error) {
	p, err := mp.NewPool(ctx, mp.WithWorkers(n))
	if err != nil {
		return nil, err
	}
	futs := make([]*mp.Future[struct{}], 0, 4*n)
	for range 4 * n {
		futs = append(futs, mp.Submit(ctx, p, Empty, struct{}{}))
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Ints returns 0, 1, …, n-1.
func Ints(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

// MapSquares squares every item of xs on the pool with mp.Map and checks the results: the
// operation of pool_map_tiny and pool_map_chunk1. It returns how long the Map alone took.
func MapSquares(ctx context.Context, p *mp.Pool, xs []int, opts ...mp.CallOption) (time.Duration, error) {
	t0 := time.Now()
	out, err := mp.Map(ctx, p, Square, xs, opts...)
	took := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if len(out) != len(xs) {
		return 0, fmt.Errorf("bench: Map(Square) of %d items returned %d results", len(xs), len(out))
	}
	for i, x := range xs {
		if out[i] != x*x {
			return 0, fmt.Errorf("bench: Map(Square)[%d] = %d, want %d", i, out[i], x*x)
		}
	}
	return took, nil
}

// SubmitEmpties submits n calls of Empty to the pool with mp.Submit, then waits for every
// future: the operation of executor_submit. It returns how long the submissions took and how
// long the whole took.
func SubmitEmpties(ctx context.Context, p *mp.Pool, n int) (submit, total time.Duration, err error) {
	futs := make([]*mp.Future[struct{}], n)
	t0 := time.Now()
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Empty, struct{}{})
	}
	submit = time.Since(t0)
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			return 0, 0, err
		}
	}
	return submit, time.Since(t0), nil
}
