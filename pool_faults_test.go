//go:build unix

package mp_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// The tests of this file pin what a pool does when workers die under a stream of pipelined tasks
// (every call runs at most once; only the running one fails), and how calls are scheduled onto
// workers (results are never held back; no call waits behind a busy worker while another is idle).

// runCounts is the execution counter of the counted tasks: one int32 per task, in shared memory
// that InitCounts hands to every worker (and every replacement worker).
var runCounts []int32

// CountArg says which task Counted is and when it kills its own worker.
type CountArg struct {
	I int
	// KillFirst SIGKILLs the worker the first time task I runs; KillAlways, every time.
	KillFirst, KillAlways bool
}

var (
	InitCounts = mp.Register("test.init_counts", func(ctx context.Context, a *mp.Array[int32]) (struct{}, error) {
		runCounts = a.Slice()
		return struct{}{}, nil
	})
	// Counted adds one to its task's counter, and may kill its worker, then returns its index.
	Counted = mp.Register("test.counted", func(ctx context.Context, a CountArg) (int, error) {
		n := atomic.AddInt32(&runCounts[a.I], 1)
		if a.KillAlways || a.KillFirst && n == 1 {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return a.I, nil
	})
	// SetEvent sets e.
	SetEvent = mp.Register("test.set_event", func(ctx context.Context, e *mp.Event) (int, error) {
		e.Set()
		return 2, nil
	})
	// StartedSleep sets Started, then sleeps Ms milliseconds (returning early, with the ctx's
	// error, when its ctx ends) and returns Ms*Ms: a task whose start a test can observe.
	StartedSleep = mp.Register("test.started_sleep", func(ctx context.Context, a StartedSleepArg) (int, error) {
		a.Started.Set()
		select {
		case <-time.After(time.Duration(a.Ms) * time.Millisecond):
			return a.Ms * a.Ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	// AwaitParties waits at b until all its parties are there.
	AwaitParties = mp.Register("test.await_parties", func(ctx context.Context, b *mp.Barrier) (int, error) {
		return b.Wait(ctx)
	})
)

// StartedSleepArg is StartedSleep's argument.
type StartedSleepArg struct {
	Started *mp.Event
	Ms      int
}

// startedSleep submits StartedSleep for ms milliseconds and returns once it has started.
func startedSleep(t *testing.T, ctx context.Context, p *mp.Pool, ms int) *mp.Future[int] {
	t.Helper()
	e, err := mp.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f := mp.Submit(ctx, p, StartedSleep, StartedSleepArg{Started: e, Ms: ms})
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.Wait(wctx); err != nil {
		t.Fatalf("StartedSleep did not start: %v", err)
	}
	return f
}

// countedPool starts a pool whose workers count their tasks' runs in counts.
func countedPool(t *testing.T, n int, opts ...mp.PoolOption) (*mp.Pool, []int32) {
	t.Helper()
	arr, err := mp.NewArray[int32](n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arr.Close() })
	p := newPool(t, append([]mp.PoolOption{mp.WithInitializer(InitCounts, arr)}, opts...)...)
	return p, arr.Slice()
}

// warm runs many tiny tasks, so that the pool learns its tasks are tiny and sends each worker
// several at a time: the pipelining these tests are about.
func warm(t *testing.T, p *mp.Pool) {
	t.Helper()
	ctx := ctxT(t)
	futs := make([]*mp.Future[int], 2000)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Square, i)
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A task that kills its worker the first time it runs, among a thousand pipelined tiny tasks on
// one worker: that task alone fails with ErrWorkerDied, and every task ran exactly once.
func TestPoolSelfKillAmongPipelinedTasks(t *testing.T) {
	const n, killer = 1000, 500
	ctx := ctxT(t)
	p, counts := countedPool(t, n, mp.WithWorkers(1))
	futs := make([]*mp.Future[int], n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Counted, CountArg{I: i, KillFirst: i == killer})
	}
	for i, f := range futs {
		v, err := f.Wait(ctx)
		switch {
		case i == killer:
			if !errors.Is(err, mp.ErrWorkerDied) {
				t.Errorf("task %d (the killer): %v; want ErrWorkerDied", i, err)
			}
			var ee *mp.ExitError
			if !errors.As(err, &ee) || ee.Pid <= 0 {
				t.Errorf("task %d: %v is not an *ExitError with a pid", i, err)
			}
		case err != nil || v != i:
			t.Errorf("task %d = %d, %v; only task %d may fail", i, v, err, killer)
		}
	}
	for i, c := range counts {
		if c != 1 {
			t.Errorf("task %d ran %d times; want exactly once", i, c)
		}
	}
}

// A task that kills every worker it is given fails once, after killing one worker, and the pool
// goes on.
func TestPoolTaskKillingEveryWorker(t *testing.T) {
	const n, killer = 300, 7
	ctx := ctxT(t)
	p, counts := countedPool(t, n, mp.WithWorkers(2))
	warm(t, p)
	futs := make([]*mp.Future[int], n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Counted, CountArg{I: i, KillAlways: i == killer})
	}
	for i, f := range futs {
		_, err := f.Wait(ctx)
		if (i == killer) != errors.Is(err, mp.ErrWorkerDied) || i != killer && err != nil {
			t.Errorf("task %d: %v", i, err)
		}
	}
	for i, c := range counts {
		if c != 1 {
			t.Errorf("task %d ran %d times; want once (the killer kills exactly one worker)", i, c)
		}
	}
	if v, err := mp.Apply(ctx, p, Square, 4); err != nil || v != 16 {
		t.Fatalf("after the killer: Apply = %d, %v", v, err)
	}
}

// stormKills SIGKILLs a random worker of p, kills times, a few milliseconds apart, until stop is
// closed; it returns how many it killed.
func stormKills(p *mp.Pool, kills int, stop <-chan struct{}) int {
	done := 0
	for done < kills {
		select {
		case <-stop:
			return done
		case <-time.After(time.Duration(2+rand.IntN(6)) * time.Millisecond):
		}
		pids := p.Pids()
		if len(pids) == 0 {
			continue
		}
		if syscall.Kill(pids[rand.IntN(len(pids))], syscall.SIGKILL) == nil {
			done++
		}
	}
	return done
}

// Workers SIGKILLed at random under a stream of tiny pipelined tasks: no task runs twice, every
// failure is a task that was running (so at most one per kill), and every other task succeeds.
func TestPoolKillStormAtMostOnce(t *testing.T) {
	n := 20000
	if raceEnabled {
		n = 5000
	}
	ctx := ctxT(t)
	p, counts := countedPool(t, n, mp.WithWorkers(4))
	warm(t, p)
	futs := make([]*mp.Future[int], n)
	stop := make(chan struct{})
	killed := make(chan int, 1)
	go func() { killed <- stormKills(p, 20, stop) }()
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Counted, CountArg{I: i})
	}
	failed := 0
	failedTask := make(map[int]bool)
	for i, f := range futs {
		v, err := f.Wait(ctx)
		switch {
		case err == nil && v == i:
		case errors.Is(err, mp.ErrWorkerDied) || errors.Is(err, mp.ErrResultLost):
			// It was running: its worker had claimed it, and may have died before or after the
			// function's first line.
			failed++
			if counts[i] > 1 {
				t.Errorf("task %d failed with %v after %d runs", i, err, counts[i])
			}
			failedTask[i] = true
		default:
			t.Errorf("task %d = %d, %v", i, v, err)
		}
	}
	close(stop)
	kills := <-killed
	for i, c := range counts {
		if c > 1 {
			t.Errorf("task %d ran %d times", i, c)
		}
		if c == 0 && !failedTask[i] {
			t.Errorf("task %d never ran", i)
		}
	}
	if failed > kills {
		t.Errorf("%d tasks failed for %d kills; at most one may fail per kill", failed, kills)
	}
	t.Logf("%d kills, %d tasks failed, none ran twice", kills, failed)
}

// With retries, a task whose worker is killed under it runs again elsewhere; the error after the
// last attempt says how many ran.
func TestPoolRetries(t *testing.T) {
	ctx := ctxT(t)
	p, counts := countedPool(t, 4, mp.WithWorkers(2), mp.WithRetries(2))
	// Killed on its first run only: the retry succeeds.
	if v, err := mp.Apply(ctx, p, Counted, CountArg{I: 0, KillFirst: true}); err != nil || v != 0 {
		t.Fatalf("KillFirst with 2 retries = %d, %v", v, err)
	}
	if counts[0] != 2 {
		t.Errorf("task 0 ran %d times; want 2 (the first killed its worker)", counts[0])
	}
	// Killed every time: three attempts, then the error says so.
	_, err := mp.Apply(ctx, p, Counted, CountArg{I: 1, KillAlways: true})
	if !errors.Is(err, mp.ErrWorkerDied) || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("KillAlways with 2 retries: %v; want ErrWorkerDied after 3 attempts", err)
	}
	if counts[1] != 3 {
		t.Errorf("task 1 ran %d times; want 3", counts[1])
	}
	// A call option overrides the pool's.
	_, err = mp.Apply(ctx, p, Counted, CountArg{I: 2, KillAlways: true}, mp.WithRetries(0))
	if !errors.Is(err, mp.ErrWorkerDied) || counts[2] != 1 {
		t.Errorf("WithRetries(0) on the call: %v after %d runs", err, counts[2])
	}
	// An error returned by the function is never retried.
	if _, err := mp.Apply(ctx, p, Fail, "no"); err == nil {
		t.Error("Fail succeeded")
	}
	if _, err := mp.NewPool(ctx, mp.WithRetries(-1)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Errorf("WithRetries(-1): %v", err)
	}
}

// A worker killed while calls wait behind its running call: the running call fails, the waiting
// ones run elsewhere, once.
func TestPoolKillWithCallsWaitingBehind(t *testing.T) {
	ctx := ctxT(t)
	p, counts := countedPool(t, 64, mp.WithWorkers(1))
	warm(t, p)
	e, err := mp.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pidFile := t.TempDir() + "/pid"
	blocked := mp.Submit(ctx, p, Block, pidFile)
	futs := make([]*mp.Future[int], 64)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Counted, CountArg{I: i})
	}
	pid := readPid(t, pidFile)
	syscall.Kill(pid, syscall.SIGKILL)
	if _, err := blocked.Wait(ctx); !errors.Is(err, mp.ErrWorkerDied) {
		t.Errorf("the running call: %v; want ErrWorkerDied", err)
	}
	for i, f := range futs {
		if v, err := f.Wait(ctx); err != nil || v != i {
			t.Errorf("waiting call %d = %d, %v; it had not started and must run elsewhere", i, v, err)
		}
		if counts[i] != 1 {
			t.Errorf("waiting call %d ran %d times", i, counts[i])
		}
	}
}

// A result reaches the caller as soon as its function returns, even when the worker has the next
// call in hand: here the next call waits for something the caller does only once it has the first
// result.
func TestPoolResultNotHeldBack(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1))
	warm(t, p)
	for round := range 5 {
		e, err := mp.NewEvent()
		if err != nil {
			t.Fatal(err)
		}
		first := mp.Submit(ctx, p, Square, 3)
		second := mp.Submit(ctx, p, WaitEvent, e)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := first.Wait(wctx)
		cancel()
		if err != nil || v != 9 {
			t.Fatalf("round %d: the first result = %d, %v; it was held back behind the second call", round, v, err)
		}
		e.Set()
		if _, err := second.Wait(ctx); err != nil {
			t.Fatalf("round %d: second: %v", round, err)
		}
		e.Close()
	}
}

// No call waits behind a busy worker while another is idle: a call that waits for the effect of a
// later call does not deadlock a 2-worker pool, and three calls that wait for each other all start
// on a 3-worker pool.
func TestPoolNoCallWaitsBehindBusyWorker(t *testing.T) {
	ctx := ctxT(t)
	t.Run("waiter then setter", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(2))
		warm(t, p)
		for round := range 10 {
			e, err := mp.NewEvent()
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			waiter := mp.Submit(wctx, p, WaitEvent, e)
			setter := mp.Submit(wctx, p, SetEvent, e)
			if _, err := setter.Wait(wctx); err != nil {
				t.Fatalf("round %d: setter: %v (it waited behind the waiter)", round, err)
			}
			if _, err := waiter.Wait(wctx); err != nil {
				t.Fatalf("round %d: waiter: %v", round, err)
			}
			cancel()
			e.Close()
		}
	})
	t.Run("three parties", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(3))
		warm(t, p)
		for round := range 10 {
			b, err := mp.NewBarrier(3)
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			futs := make([]*mp.Future[int], 3)
			for i := range futs {
				futs[i] = mp.Submit(wctx, p, AwaitParties, b)
			}
			for i, f := range futs {
				if _, err := f.Wait(wctx); err != nil {
					t.Fatalf("round %d: party %d: %v (not every party started)", round, i, err)
				}
			}
			cancel()
			b.Close()
		}
	})
}

// Cancel right after Submit: the task either never runs or is stopped; it never runs on unkilled.
// Spin ignores its context and never returns, so a Spin left running would hold the only worker
// and the Apply at the end would never be served.
func TestPoolCancelRightAfterSubmit(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1), mp.WithCancelGrace(0))
	pidFile := t.TempDir() + "/pid"
	for i := range 1000 {
		f := mp.Submit(ctx, p, Spin, pidFile)
		if i%2 == 1 {
			// Jitter, so that some cancels land while the writer is sending the call.
			for range rand.IntN(2000) {
				runtime.Gosched()
			}
		}
		f.Cancel()
		if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Spin: %v", err)
		}
	}
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if v, err := mp.Apply(actx, p, Square, 5); err != nil || v != 25 {
		t.Fatalf("Apply after cancelled Spins = %d, %v: a cancelled Spin kept the worker", v, err)
	}
}

// A worker stopped by SIGSTOP while idle cannot hold up a Shutdown whose work is done: it is
// killed once the others have exited and the grace has passed.
func TestPoolShutdownWithStoppedWorker(t *testing.T) {
	ctx := ctxT(t)
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if v, err := mp.Apply(ctx, p, Square, 3); err != nil || v != 9 {
		t.Fatalf("Apply = %d, %v", v, err)
	}
	stopped := p.Pids()[0]
	if err := syscall.Kill(stopped, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a stopped worker: %v", err)
	}
	if err := syscall.Kill(stopped, 0); err == nil {
		t.Errorf("the stopped worker %d is still there after Shutdown", stopped)
	}
}

// The memory that Array.Slice and SharedMemory.Bytes hand out stays mapped while it is used,
// even once the handle itself is garbage (a worker's initializer that keeps only the slice).
func TestSharedSliceOutlivesHandle(t *testing.T) {
	a, err := mp.NewArray[int64](1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mp.CreateSharedMemory("", 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	xs, bs := a.Slice(), m.Bytes()
	a, m = nil, nil
	for range 3 {
		runtime.GC()
	}
	for i := range xs {
		xs[i] = int64(i)
	}
	for i := range bs {
		bs[i] = byte(i)
	}
	if xs[1000] != 1000 || bs[1000] != byte(1000%256) {
		t.Fatal("shared memory lost its contents")
	}
}

// Workers stopped with SIGSTOP and continued again, at random, under a stream of tiny pipelined
// tasks: every task succeeds, and each runs exactly once (calls waiting behind a stopped worker
// are taken back by the others, never run twice).
func TestPoolStopStormExactlyOnce(t *testing.T) {
	n := 20000
	if raceEnabled {
		n = 5000
	}
	ctx := ctxT(t)
	p, counts := countedPool(t, n, mp.WithWorkers(3))
	warm(t, p)
	stop := make(chan struct{})
	stormed := make(chan int, 1)
	go func() {
		done := 0
		defer func() { stormed <- done }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1+rand.IntN(4)) * time.Millisecond):
			}
			pids := p.Pids()
			if len(pids) == 0 {
				continue
			}
			pid := pids[rand.IntN(len(pids))]
			if syscall.Kill(pid, syscall.SIGSTOP) != nil {
				continue
			}
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond) // how long it stays stopped
			syscall.Kill(pid, syscall.SIGCONT)
			done++
		}
	}()
	futs := make([]*mp.Future[int], n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Counted, CountArg{I: i})
	}
	for i, f := range futs {
		if v, err := f.Wait(ctx); err != nil || v != i {
			t.Errorf("task %d = %d, %v", i, v, err)
		}
	}
	close(stop)
	stops := <-stormed
	for i, c := range counts {
		if c != 1 {
			t.Errorf("task %d ran %d times", i, c)
		}
	}
	t.Logf("%d stops, every task ran once", stops)
}
