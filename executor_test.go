//go:build unix

package mp_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

// The tests of this file pin what every Executor does the same way: they run against each
// executor of the table. What is about processes (a worker's death, a kill, memory caps) is in
// pool_test.go and pool_faults_test.go.

// testExecutor is an executor of the table with its way to end.
type testExecutor struct {
	mp.Executor
	shutdown func(ctx context.Context, opts ...mp.ShutdownOption) error
	close    func() error
}

// executors is the table: each entry makes an executor with the given options, closed when the
// test ends.
var executors = []struct {
	name string
	new  func(t *testing.T, opts ...mp.PoolOption) testExecutor
}{
	{"Pool", func(t *testing.T, opts ...mp.PoolOption) testExecutor {
		p := newPool(t, opts...)
		return testExecutor{p, p.Shutdown, p.Close}
	}},
	{"GoroutinePool", func(t *testing.T, opts ...mp.PoolOption) testExecutor {
		p := newGoroutinePool(t, opts...)
		return testExecutor{p, p.Shutdown, p.Close}
	}},
	// An executor from another package that sees only encoded calls, over each backend.
	{"Encoded(Pool)", func(t *testing.T, opts ...mp.PoolOption) testExecutor {
		p := newPool(t, opts...)
		return testExecutor{mptest.Encoded(p), p.Shutdown, p.Close}
	}},
	{"Encoded(GoroutinePool)", func(t *testing.T, opts ...mp.PoolOption) testExecutor {
		p := newGoroutinePool(t, opts...)
		return testExecutor{mptest.Encoded(p), p.Shutdown, p.Close}
	}},
}

func newGoroutinePool(t *testing.T, opts ...mp.PoolOption) *mp.GoroutinePool {
	t.Helper()
	p, err := mp.NewGoroutinePool(ctxT(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// eachExecutor runs test once per executor of the table, as a subtest.
func eachExecutor(t *testing.T, test func(t *testing.T, newEx func(opts ...mp.PoolOption) testExecutor)) {
	for _, e := range executors {
		t.Run(e.name, func(t *testing.T) {
			test(t, func(opts ...mp.PoolOption) testExecutor { return e.new(t, opts...) })
		})
	}
}

// TestExecutor runs the executor suite, mptest.TestExecutor (which other executors, such as
// mpnats's, run as well), on each executor of the table.
func TestExecutor(t *testing.T) {
	for _, e := range executors {
		t.Run(e.name, func(t *testing.T) {
			mptest.TestExecutor(t, func(t *testing.T, cfg mptest.ExecutorConfig) mptest.TestedExecutor {
				opts := []mp.PoolOption{mp.WithWorkers(cfg.Workers)}
				if cfg.TaskTimeout > 0 {
					opts = append(opts, mp.WithTaskTimeout(cfg.TaskTimeout))
				}
				ex := e.new(t, opts...)
				return mptest.TestedExecutor{Executor: ex.Executor, Shutdown: ex.shutdown, Close: ex.close}
			})
		})
	}
}

// Calls with a nil executor fail with ErrClosed.
func TestExecutorNil(t *testing.T) {
	ctx := ctxT(t)
	if _, err := mp.Apply(ctx, nil, Square, 1); !errors.Is(err, mp.ErrClosed) {
		t.Errorf("nil Executor: %v", err)
	}
	var nilPool *mp.GoroutinePool
	if _, err := mp.Apply(ctx, nilPool, Square, 1); !errors.Is(err, mp.ErrClosed) {
		t.Errorf("nil *GoroutinePool: %v", err)
	}
}

// TouchSleepArg is SleepAfterTouch's argument.
type TouchSleepArg struct {
	Path string
	Ms   int
}

// SleepAfterTouch creates the file at Path, so a test sees that it started, then sleeps Ms
// milliseconds (returning early when its context ends) and returns Ms*Ms.
var SleepAfterTouch = mp.Register("test.sleep_after_touch", func(ctx context.Context, a TouchSleepArg) (int, error) {
	if err := os.WriteFile(a.Path, nil, 0o644); err != nil {
		return 0, err
	}
	select {
	case <-time.After(time.Duration(a.Ms) * time.Millisecond):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return a.Ms * a.Ms, nil
})
