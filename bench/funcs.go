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
