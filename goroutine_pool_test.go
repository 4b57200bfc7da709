//go:build unix

package mp_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// Functions for the GoroutinePool's own tests, which only it can run as they do: they share
// memory with the test.
var (
	// Grab appends to the slice its argument points to: on a GoroutinePool, the caller's.
	Grab = mp.Register("test.grab", func(ctx context.Context, p *[]int) (int, error) {
		*p = append(*p, 1)
		return len(*p), nil
	})
	// CountInit counts its runs in goroutineInits: an initializer.
	CountInit = mp.Register("test.count_init", func(ctx context.Context, _ struct{}) (struct{}, error) {
		goroutineInits.Add(1)
		return struct{}{}, nil
	})
	// Ignore blocks until release is closed, ignoring its context.
	Ignore = mp.Register("test.ignore", func(ctx context.Context, _ struct{}) (int, error) {
		ignoring.Add(1)
		<-release
		ignoring.Add(-1)
		return 1, nil
	})
)

var (
	goroutineInits atomic.Int64
	ignoring       atomic.Int64
	release        = make(chan struct{})
)

func TestGoroutinePoolPassesValuesAsIs(t *testing.T) {
	ctx := ctxT(t)
	p := newGoroutinePool(t, mp.WithWorkers(2))
	xs := []int{7}
	if n, err := mp.Apply(ctx, p, Grab, &xs); err != nil || n != 2 || len(xs) != 2 {
		t.Fatalf("Apply(Grab) = %d, %v; the caller's slice is %v: the argument was not passed as is", n, err, xs)
	}
	// The same call on a process pool gets a copy.
	pp := newPool(t, mp.WithWorkers(1))
	ys := []int{7}
	if n, err := mp.Apply(ctx, pp, Grab, &ys); err != nil || n != 2 || len(ys) != 1 {
		t.Fatalf("Apply(Grab) on a Pool = %d, %v; the caller's slice is %v", n, err, ys)
	}
	// An error keeps its value exactly: no *ProcessError in between.
	_, err := mp.Apply(ctx, p, FailAt, 500)
	var pe *mp.ProcessError
	if !errors.Is(err, ErrSoldOut) || errors.As(err, &pe) {
		t.Fatalf("error from a GoroutinePool = %#v", err)
	}
}

func TestGoroutinePoolInitializerAndMaxTasks(t *testing.T) {
	ctx := ctxT(t)
	goroutineInits.Store(0)
	p := newGoroutinePool(t, mp.WithWorkers(1), mp.WithInitializer(CountInit, struct{}{}), mp.WithMaxTasksPerWorker(2))
	if n := goroutineInits.Load(); n != 1 {
		t.Fatalf("NewGoroutinePool returned after %d initializer runs; want 1", n)
	}
	for range 6 {
		if _, err := mp.Apply(ctx, p, Square, 2); err != nil {
			t.Fatal(err)
		}
	}
	// 6 tasks at 2 per worker: three workers, each initialized; the third replacement may still
	// be starting.
	waitFor(t, "the recycled workers' initializers", func() bool { return goroutineInits.Load() >= 3 })
	if n := goroutineInits.Load(); n > 4 {
		t.Fatalf("%d initializer runs for 6 tasks at 2 per worker", n)
	}
	// A failing initializer is NewGoroutinePool's error.
	_, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(2), mp.WithInitializer(Fail, "no init"))
	if err == nil || !strings.Contains(err.Error(), "no init") {
		t.Fatalf("NewGoroutinePool with a failing initializer = %v", err)
	}
}

func TestGoroutinePoolTimeoutReturnsAtOnce(t *testing.T) {
	ctx := ctxT(t)
	p := newGoroutinePool(t, mp.WithWorkers(1))
	_, err := mp.Apply(ctx, p, Ignore, struct{}{}, mp.WithTaskTimeout(50*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply of a function that ignores its ctx, past its timeout = %v", err)
	}
	// The goroutine cannot be stopped: it is still running, and the caller did not wait for it.
	if ignoring.Load() != 1 {
		t.Fatalf("the function is not running any more (%d)", ignoring.Load())
	}
	close(release)
	waitFor(t, "the ignoring function to return", func() bool { return ignoring.Load() == 0 })
	if v, err := mp.Apply(ctx, p, Square, 5); err != nil || v != 25 {
		t.Fatalf("after the timeout: %d, %v", v, err)
	}
}

func TestGoroutinePoolRefusesProcessOptions(t *testing.T) {
	ctx := ctxT(t)
	for _, o := range []mp.PoolOption{mp.WithWorkerMemoryLimit(1 << 30), mp.WithWorkerEnv("A=b"), mp.WithCancelGrace(time.Second), mp.WithWorkers(0)} {
		if p, err := mp.NewGoroutinePool(ctx, o); !errors.Is(err, mp.ErrInvalidOption) {
			if p != nil {
				p.Close()
			}
			t.Errorf("NewGoroutinePool(%T) = %v; want ErrInvalidOption", o, err)
		}
	}
}
