//go:build unix

package mp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

func newPool(t *testing.T, opts ...mp.PoolOption) *mp.Pool {
	t.Helper()
	p, err := mp.NewPool(ctxT(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func ints(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

// readPid waits for a function running in a worker to write its pid to path.
func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err == nil {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// TestPoolWorkers checks what only a process pool has: its workers' pids. What every executor
// does is in executor_test.go.
func TestPoolWorkers(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(2))
	if p.Workers() != 2 || len(p.Pids()) != 2 {
		t.Fatalf("Workers %d Pids %v", p.Workers(), p.Pids())
	}
	seen := map[int]bool{}
	for range 20 {
		pid, err := mp.Apply(ctx, p, Pid, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		if pid == os.Getpid() {
			t.Fatal("a task ran in the parent")
		}
		seen[pid] = true
	}
	for pid := range seen {
		if !slices.Contains(p.Pids(), pid) {
			t.Fatalf("a task ran in %d, not a worker of %v", pid, p.Pids())
		}
	}
}

func TestPoolMapFirstError(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(2))
	got, err := mp.Map(ctx, p, FailAt, ints(2000), mp.WithChunkSize(50))
	if !errors.Is(err, ErrSoldOut) || got != nil {
		t.Fatalf("Map = %d results, %v; want nil and ErrSoldOut", len(got), err)
	}
	var pe *mp.ProcessError
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "item 500") {
		t.Fatalf("error %v", err)
	}
	// A cancelled Map returns at once with the context's error.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := mp.Map(cctx, p, SleepSquare, []int{5000, 5000, 5000}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Map with an expiring ctx = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Map took %v to notice its context", d)
	}
	if v, err := mp.Apply(ctx, p, Square, 4); err != nil || v != 16 {
		t.Fatalf("pool after a cancelled Map: %d, %v", v, err)
	}
}

// TestPoolWorkerKilledMidTask kills a worker with SIGKILL while it runs a task: that task fails
// with ErrWorkerDied, carrying the pid and status; every other task completes correctly; the pool
// replaces the worker.
func TestPoolWorkerKilledMidTask(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(2))
	pidFile := filepath.Join(t.TempDir(), "pid")
	doomed := mp.Submit(ctx, p, Block, pidFile)
	var futs []*mp.Future[int]
	for i := range 200 {
		futs = append(futs, mp.Submit(ctx, p, SleepSquare, i%3))
	}
	victim := readPid(t, pidFile)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, err := doomed.Wait(ctx)
	var ee *mp.ExitError
	if !errors.Is(err, mp.ErrWorkerDied) || !errors.As(err, &ee) || ee.Pid != victim || ee.Code() != -9 {
		t.Fatalf("the killed task's error = %v; want ErrWorkerDied from pid %d, code -9", err, victim)
	}
	for i, f := range futs {
		v, err := f.Wait(ctx)
		if err != nil || v != (i%3)*(i%3) {
			t.Fatalf("task %d = %d, %v", i, v, err)
		}
	}
	waitFor(t, "the pool to replace the worker", func() bool {
		pids := p.Pids()
		return len(pids) == 2 && !slices.Contains(pids, victim)
	})
	// The same with os.Exit and a panic inside tasks.
	if _, err := mp.Apply(ctx, p, Exit, 7); !errors.Is(err, mp.ErrWorkerDied) || !errors.As(err, &ee) || ee.Code() != 7 {
		t.Fatalf("os.Exit(7) in a task: %v", err)
	}
	// A segmentation fault: Go's runtime turns it into a crash with status 2 (as it does for a
	// fault in cgo code). GOTRACEBACK=none keeps the crash's stacks out of the test log.
	quiet := newPool(t, mp.WithWorkers(1), mp.WithWorkerEnv("GOTRACEBACK=none"))
	if _, err := mp.Apply(ctx, quiet, Segfault, struct{}{}); !errors.Is(err, mp.ErrWorkerDied) || !errors.As(err, &ee) || ee.Code() != 2 {
		t.Fatalf("SIGSEGV in a task: %v", err)
	}
	if v, err := mp.Apply(ctx, quiet, Square, 5); err != nil || v != 25 {
		t.Fatalf("pool after a segfault: %d, %v", v, err)
	}
	var pe *mp.PanicError
	if _, err := mp.Apply(ctx, p, Panic, "in pool"); !errors.As(err, &pe) || pe.Value != "boom: in pool" {
		t.Fatalf("panic in a task: %v", err)
	}
	if v, err := mp.Apply(ctx, p, Square, 12); err != nil || v != 144 {
		t.Fatalf("pool after crashes: %d, %v", v, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPoolCancelStopsWork: cancelling a running task's context returns at once, and a task that
// ignores its context has its worker killed after the grace period and replaced.
func TestPoolCancelStopsWork(t *testing.T) {
	ctx := ctxT(t)
	// The grace is long enough for a cooperative task to return under -race on a busy machine.
	p := newPool(t, mp.WithWorkers(1), mp.WithCancelGrace(500*time.Millisecond))
	pidFile := filepath.Join(t.TempDir(), "pid")
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := mp.Apply(cctx, p, Block, pidFile)
		done <- err
	}()
	victim := readPid(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Apply after cancel = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Apply did not return at once when its context was cancelled")
	}
	waitFor(t, "the stuck worker to be killed", func() bool { return !mptest.Exists(victim) })
	if v, err := mp.Apply(ctx, p, Square, 6); err != nil || v != 36 {
		t.Fatalf("pool after a kill: %d, %v", v, err)
	}

	// Future.Cancel on a running cooperative task: the worker survives.
	before := p.Pids()
	fut := startedSleep(t, ctx, p, 60_000)
	if !fut.Cancel() {
		t.Fatal("Cancel reported false on a running task")
	}
	if _, err := fut.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled future = %v", err)
	}
	if v, err := mp.Apply(ctx, p, Square, 7); err != nil || v != 49 {
		t.Fatalf("after Cancel: %d, %v", v, err)
	}
	if after := p.Pids(); !slices.Equal(before, after) {
		t.Fatalf("a task that returned when cancelled cost its worker: %v -> %v", before, after)
	}

	// A queued task that is cancelled never runs.
	touch := filepath.Join(t.TempDir(), "touched")
	busy := mp.Submit(ctx, p, SleepSquare, 300)
	queued := mp.Submit(ctx, p, Touch, TouchArg{Path: touch})
	queued.Cancel()
	if _, err := busy.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Apply(ctx, p, Square, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(touch); err == nil {
		t.Fatal("a cancelled queued task ran")
	}
}

func TestPoolTaskTimeout(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1), mp.WithTaskTimeout(100*time.Millisecond), mp.WithCancelGrace(50*time.Millisecond))
	start := time.Now()
	_, err := mp.Apply(ctx, p, Sleep, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply past the timeout = %v", err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	_, err = mp.Apply(ctx, p, Block, pidFile)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply of a stuck task past the timeout = %v", err)
	}
	victim := readPid(t, pidFile)
	waitFor(t, "the stuck worker to be killed", func() bool { return !mptest.Exists(victim) })
	if time.Since(start) > 10*time.Second {
		t.Fatalf("timeouts took %v", time.Since(start))
	}
	// A call option overrides the pool's timeout.
	if v, err := mp.Apply(ctx, p, SleepSquare, 300, mp.WithTaskTimeout(5*time.Second)); err != nil || v != 90000 {
		t.Fatalf("Apply with a longer call timeout = %d, %v", v, err)
	}
}

func TestPoolMaxTasksPerWorker(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1), mp.WithMaxTasksPerWorker(2))
	seen := map[int]int{}
	for range 6 {
		pid, err := mp.Apply(ctx, p, Pid, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		seen[pid]++
	}
	if len(seen) != 3 {
		t.Fatalf("6 tasks with 2 per worker ran on %d workers: %v", len(seen), seen)
	}
	for pid, n := range seen {
		if n != 2 {
			t.Fatalf("worker %d ran %d tasks", pid, n)
		}
	}
}

func TestPoolMemoryLimit(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1), mp.WithWorkerMemoryLimit(64<<20))
	pid, err := mp.Apply(ctx, p, Grow, 100)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker over its memory limit to be recycled", func() bool {
		pids := p.Pids()
		return len(pids) == 1 && pids[0] != pid && !mptest.Exists(pid)
	})
	if v, err := mp.Apply(ctx, p, Square, 8); err != nil || v != 64 {
		t.Fatalf("after recycling: %d, %v", v, err)
	}
}

func TestPoolInitializer(t *testing.T) {
	ctx := ctxT(t)
	flag := filepath.Join(t.TempDir(), "fail")
	p := newPool(t, mp.WithWorkers(2), mp.WithInitializer(InitMaybe, flag))
	if ok, err := mp.Apply(ctx, p, Initialized, struct{}{}); err != nil || !ok {
		t.Fatalf("initializer did not run in the worker: %v %v", ok, err)
	}
	// From now on every new worker's initializer fails: once the workers die, the pool must
	// report ErrBrokenPool instead of respawning for ever.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, pid := range p.Pids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, "the pool to break", func() bool {
		_, err := mp.Apply(ctx, p, Square, 2)
		return errors.Is(err, mp.ErrBrokenPool)
	})
	_, err := mp.Apply(ctx, p, Square, 2)
	if !strings.Contains(err.Error(), "initializer refuses") {
		t.Fatalf("broken pool error lacks the cause: %v", err)
	}

	// At start, a failing initializer is NewPool's error.
	_, err = mp.NewPool(ctx, mp.WithWorkers(2), mp.WithInitializer(InitMaybe, flag))
	if err == nil || !strings.Contains(err.Error(), "initializer refuses") {
		t.Fatalf("NewPool with a failing initializer = %v", err)
	}
}

// TestPoolShutdownAndClose checks what only a process pool has: after Shutdown and after Close no
// worker process is left. What Shutdown and Close do with the calls is in executor_test.go.
func TestPoolShutdownAndClose(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		end  func(p *mp.Pool) error
	}{
		{"Shutdown", func(p *mp.Pool) error { return p.Shutdown(ctx) }},
		{"Close", func(p *mp.Pool) error { return p.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := mp.NewPool(ctx, mp.WithWorkers(2))
			if err != nil {
				t.Fatal(err)
			}
			pids := p.Pids()
			running := startedSleep(t, ctx, p, 100)
			if err := tc.end(p); err != nil {
				t.Fatal(err)
			}
			for _, pid := range pids {
				if mptest.Exists(pid) {
					t.Fatalf("worker %d outlived %s", pid, tc.name)
				}
			}
			if len(p.Pids()) != 0 {
				t.Fatalf("Pids after %s = %v", tc.name, p.Pids())
			}
			if _, err := running.Wait(ctx); tc.name == "Shutdown" && err != nil {
				t.Fatalf("a running task after Shutdown = %v", err)
			}
			p.Close()
		})
	}
}

func TestPoolBadInput(t *testing.T) {
	ctx := ctxT(t)
	for _, o := range []mp.PoolOption{mp.WithWorkers(0), mp.WithWorkers(-1), mp.WithMaxTasksPerWorker(-1), mp.WithTaskTimeout(0), mp.WithWorkerMemoryLimit(0), mp.WithCancelGrace(-1)} {
		if _, err := mp.NewPool(ctx, o); !errors.Is(err, mp.ErrInvalidOption) {
			t.Errorf("NewPool(%T) = %v; want ErrInvalidOption", o, err)
		}
	}
	if _, err := mp.NewPool(ctx, mp.WithInitializer[int, int](nil, 1)); !errors.Is(err, mp.ErrNotRegistered) {
		t.Errorf("nil initializer: %v", err)
	}
	p := newPool(t, mp.WithWorkers(1))
	if _, err := mp.Apply[int, int](ctx, p, nil, 1); !errors.Is(err, mp.ErrNotRegistered) {
		t.Errorf("nil func: %v", err)
	}
	if _, err := mp.Apply(ctx, p, &mp.Func[int, int]{}, 1); !errors.Is(err, mp.ErrNotRegistered) {
		t.Errorf("zero func: %v", err)
	}
	if _, err := mp.Apply(ctx, p, TakeChan, ChanHolder{C: make(chan int)}); !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "ChanHolder") {
		t.Errorf("unencodable argument: %v", err)
	}
	if _, err := mp.Apply(ctx, p, ReturnFunc, struct{}{}); !errors.Is(err, mp.ErrEncode) {
		t.Errorf("unencodable result: %v", err)
	}
	if _, err := mp.Apply(ctx, p, TakeBad, BadArg{X: 1}); !errors.Is(err, mp.ErrDecode) {
		t.Errorf("argument the worker cannot decode: %v", err)
	}
	if _, err := mp.Map(ctx, p, Square, ints(3), mp.WithChunkSize(0)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Errorf("WithChunkSize(0): %v", err)
	}
	var nilPool *mp.Pool
	if _, err := mp.Apply(ctx, nilPool, Square, 1); !errors.Is(err, mp.ErrClosed) {
		t.Errorf("nil pool: %v", err)
	}
	// Each of those failed alone: the pool still works.
	if v, err := mp.Apply(ctx, p, Square, 11); err != nil || v != 121 {
		t.Fatalf("after bad input: %d, %v", v, err)
	}
}
