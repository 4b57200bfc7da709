//go:build unix

package mp

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp-go/mp/internal/wire"
)

// These tests drive the pool's bookkeeping of its workers' lives — what a death does to the calls
// a worker had, when a worker is replaced, when the pool counts as broken — with fake workers
// (pool_fake_internal_test.go): no process is started, and each death comes exactly where the
// test puts it. pool_faults_test.go checks the same rules with real processes and real signals.

// holds are the tasks of bkHold, by key: a test makes one, submits bkHold with its key, and
// decides when the task returns or its worker dies.
var holds sync.Map // string → *hold

type hold struct {
	started chan struct{} // one value per attempt that started
	die     chan struct{} // one value per attempt to end by the death of its worker
	release chan struct{} // closed (by let): the task returns its key
	once    sync.Once
}

// let lets the task of h return.
func (h *hold) let() { h.once.Do(func() { close(h.release) }) }

// newHold makes the hold of key, released when the test ends.
func newHold(t *testing.T, key string) *hold {
	h := &hold{started: make(chan struct{}, 16), release: make(chan struct{}), die: make(chan struct{}, 16)}
	if _, dup := holds.LoadOrStore(key, h); dup {
		t.Fatalf("hold %q made twice", key)
	}
	t.Cleanup(func() {
		h.let() // a task whose fake worker was killed under it may still be waiting
		holds.Delete(key)
	})
	return h
}

// waitStarted waits for the next attempt of h to start.
func (h *hold) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the held task did not start")
	}
}

var bkHold = Register("test.bookkeeping.hold", func(ctx context.Context, key string) (string, error) {
	v, ok := holds.Load(key)
	if !ok {
		return "", fmt.Errorf("no hold %q", key)
	}
	h := v.(*hold)
	h.started <- struct{}{}
	select {
	case <-h.release:
		return key, nil
	case <-h.die:
		runtime.Goexit() // the fake worker dies here, its slot still running
		return "", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
})

// bkStubborn is bkHold deaf to its context: only its worker's death ends it early.
var bkStubborn = Register("test.bookkeeping.stubborn", func(ctx context.Context, key string) (string, error) {
	return bkHold.Call(context.Background(), key)
})

// runs counts the runs of bkCount, by key.
var runs struct {
	sync.Mutex
	n map[string]int
}

func runsOf(key string) int {
	runs.Lock()
	defer runs.Unlock()
	return runs.n[key]
}

var bkCount = Register("test.bookkeeping.count", func(ctx context.Context, key string) (string, error) {
	runs.Lock()
	if runs.n == nil {
		runs.n = map[string]int{}
	}
	runs.n[key]++
	runs.Unlock()
	return key, nil
})

// bkLose returns, and its fake worker dies before the reply is written (see newFakePool).
var bkLose = Register("test.bookkeeping.lose", func(ctx context.Context, key string) (string, error) {
	return bkCount.Call(ctx, key)
})

// newFakePool starts a pool of n fake workers, configured by f's hooks, closed when the test ends.
func newFakePool(t *testing.T, f *fakeWorkers, n int, opts ...PoolOption) *Pool {
	t.Helper()
	f.t = t
	if f.dropReply == nil {
		f.dropReply = func(c *wire.Call) bool { return c.Func == bkLose.Name() }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewPool(ctx, append([]PoolOption{WithWorkers(n), withFakeWorkers(f)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testCtx bounds a test, and forgets the runs of its keys (they start with its name) when it ends,
// for -count.
func testCtx(t *testing.T) context.Context {
	t.Cleanup(func() {
		runs.Lock()
		for k := range runs.n {
			if strings.HasPrefix(k, t.Name()) {
				delete(runs.n, k)
			}
		}
		runs.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually waits, a bounded time, until cond holds, checking it under the pool's lock.
func eventually(t *testing.T, p *Pool, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readyWorker returns the pool's one ready worker once it is the fake numbered n.
func readyWorker(t *testing.T, p *Pool, n int) (w *worker) {
	t.Helper()
	eventually(t, p, fmt.Sprintf("fake worker %d is the pool's ready worker", n), func() bool {
		for v := range p.workers {
			if v.ready && !v.exited && v.pid == fakePidBase+n {
				w = v
				return true
			}
		}
		return false
	})
	return w
}

// A worker that dies while running a task fails that task with ErrWorkerDied, and only that one;
// a new worker takes its place and runs what comes next.
func TestBookkeepingDeathFailsRunningTask(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1)
	h := newHold(t, t.Name())
	fut := Submit(ctx, p, bkHold, t.Name())
	h.waitStarted(t)
	h.die <- struct{}{}
	_, err := fut.Wait(ctx)
	if !errors.Is(err, ErrWorkerDied) || errors.Is(err, ErrResultLost) {
		t.Fatalf("task whose worker died: %v; want ErrWorkerDied", err)
	}
	if want := fmt.Sprintf("pid %d", fakePidBase+1); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the worker (%s)", err, want)
	}
	readyWorker(t, p, 2)
	if got, err := Apply(ctx, p, bkCount, t.Name()+"/after"); err != nil || got != t.Name()+"/after" {
		t.Fatalf("task after the death: %q, %v", got, err)
	}
	if n := f.starts(); n != 2 {
		t.Errorf("%d workers started; want 2: the first and its replacement", n)
	}
}

// Tasks sent to a worker that had not started when it died go back to the queue, run on another
// worker, and run once.
func TestBookkeepingDeathRequeuesUnstartedTasks(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1)
	w := readyWorker(t, p, 1)
	p.mu.Lock()
	w.ewma = 1 // a worker known to be fast: its window is all its slots
	p.mu.Unlock()
	h := newHold(t, t.Name())
	held := Submit(ctx, p, bkHold, t.Name())
	h.waitStarted(t)
	const n = 5
	var futs []*Future[string]
	for i := range n {
		futs = append(futs, Submit(ctx, p, bkCount, fmt.Sprintf("%s/%d", t.Name(), i)))
	}
	eventually(t, p, "the tasks are sent to the worker behind the held one", func() bool { return len(w.pending) == 1+n })
	h.die <- struct{}{}
	if _, err := held.Wait(ctx); !errors.Is(err, ErrWorkerDied) {
		t.Fatalf("the running task: %v; want ErrWorkerDied", err)
	}
	for i, fut := range futs {
		key := fmt.Sprintf("%s/%d", t.Name(), i)
		if got, err := fut.Wait(ctx); err != nil || got != key {
			t.Errorf("task %d, sent but not started when its worker died: %q, %v; want it run", i, got, err)
		}
		if r := runsOf(key); r != 1 {
			t.Errorf("task %d ran %d times; want once", i, r)
		}
	}
	if n := f.starts(); n != 2 {
		t.Errorf("%d workers started; want 2", n)
	}
}

// With WithRetries, a task whose worker dies runs again on a new one, up to the limit; after the
// last attempt the error matches ErrWorkerDied and says how many attempts ran.
func TestBookkeepingDeathRetries(t *testing.T) {
	t.Run("succeeds", func(t *testing.T) {
		ctx := testCtx(t)
		f := &fakeWorkers{}
		p := newFakePool(t, f, 1)
		h := newHold(t, t.Name())
		fut := Submit(ctx, p, bkHold, t.Name(), WithRetries(2))
		for range 2 {
			h.waitStarted(t)
			h.die <- struct{}{}
		}
		h.waitStarted(t) // the third attempt
		h.let()
		if got, err := fut.Wait(ctx); err != nil || got != t.Name() {
			t.Fatalf("task retried twice, then released: %q, %v", got, err)
		}
		if n := f.starts(); n != 3 {
			t.Errorf("%d workers started; want 3", n)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		ctx := testCtx(t)
		f := &fakeWorkers{}
		p := newFakePool(t, f, 1)
		h := newHold(t, t.Name())
		fut := Submit(ctx, p, bkHold, t.Name(), WithRetries(1))
		for range 2 {
			h.waitStarted(t)
			h.die <- struct{}{}
		}
		_, err := fut.Wait(ctx)
		if !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "each of 2 attempts") {
			t.Fatalf("task whose worker died in both attempts: %v; want ErrWorkerDied after 2 attempts", err)
		}
		select {
		case <-h.started:
			t.Fatal("the task ran a third time")
		default:
		}
	})
}

// A task whose function returned but whose worker died before replying fails with ErrResultLost,
// not ErrWorkerDied, and is not run again even with retries left.
func TestBookkeepingDeathLosesDoneTask(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1)
	key := t.Name()
	_, err := Apply(ctx, p, bkLose, key, WithRetries(3))
	if !errors.Is(err, ErrResultLost) || errors.Is(err, ErrWorkerDied) {
		t.Fatalf("task done but unreported: %v; want ErrResultLost", err)
	}
	if r := runsOf(key); r != 1 {
		t.Errorf("it ran %d times; want once", r)
	}
	readyWorker(t, p, 2)
}

// Three workers in a row that fail their handshake break the pool: queued tasks and later ones
// fail with ErrBrokenPool, and no worker is started after that.
func TestBookkeepingStartFailuresBreakPool(t *testing.T) {
	for _, how := range []string{"handshake", "exec"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t)
			refused := errors.New("initializer refused")
			fails := func(n int) error {
				if n >= 2 {
					return refused
				}
				return nil
			}
			f := &fakeWorkers{}
			if how == "handshake" {
				f.refuse = fails
			} else {
				f.startErr = fails
			}
			p := newFakePool(t, f, 1)
			readyWorker(t, p, 1)
			f.proc(1).kill() // its replacements cannot start
			queued := Submit(ctx, p, bkCount, t.Name())
			if _, err := queued.Wait(ctx); !errors.Is(err, ErrBrokenPool) || !strings.Contains(err.Error(), refused.Error()) {
				t.Fatalf("task queued while workers fail to start: %v; want ErrBrokenPool, with the last failure", err)
			}
			if _, err := Apply(ctx, p, bkCount, t.Name()); !errors.Is(err, ErrBrokenPool) {
				t.Fatalf("task submitted to a broken pool: %v; want ErrBrokenPool", err)
			}
			if r := runsOf(t.Name()); r != 0 {
				t.Errorf("a task ran %d times on a pool without workers", r)
			}
			p.Close() // waits for every owner: no start is under way after it
			if n := f.starts(); n != 4 {
				t.Errorf("%d starts; want 4: the first worker, then three failures", n)
			}
		})
	}
}

// One failed start, then a good one, does not count towards a broken pool: the count is of
// failures in a row.
func TestBookkeepingStartFailureThenSuccess(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{refuse: func(n int) error {
		if n == 2 || n == 3 || n == 5 || n == 6 {
			return errors.New("flaky start")
		}
		return nil
	}}
	p := newFakePool(t, f, 1)
	readyWorker(t, p, 1)
	f.proc(1).kill()
	readyWorker(t, p, 4) // after two failures
	f.proc(4).kill()
	readyWorker(t, p, 7) // two more: four in all, never three in a row
	if _, err := Apply(ctx, p, bkCount, t.Name()); err != nil {
		t.Fatalf("pool after failures never three in a row: %v", err)
	}
}

// Workers that die without a task finishing between their deaths break the pool once there are
// more than maxDeathsNoProgress of them; a finished task resets the count.
func TestBookkeepingDeathsWithoutProgressBreakPool(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1)
	limit := maxDeathsNoProgress(1)
	n := 1
	killIdle := func(times int) {
		t.Helper()
		for range times {
			readyWorker(t, p, n)
			f.proc(n).kill()
			n++
		}
	}
	killIdle(limit)
	readyWorker(t, p, n) // limit deaths: the pool still replaces its worker
	if _, err := Apply(ctx, p, bkCount, t.Name()); err != nil {
		t.Fatalf("after %d deaths without progress: %v; want the pool working", limit, err)
	}
	killIdle(limit) // the task above reset the count
	readyWorker(t, p, n)
	p.mu.Lock()
	state := p.state
	p.mu.Unlock()
	if state != poolOpen {
		t.Fatalf("after a finished task and %d more deaths the pool is in state %d; want open", limit, state)
	}
	killIdle(1)
	_, err := Apply(ctx, p, bkCount, t.Name())
	if !errors.Is(err, ErrBrokenPool) || !strings.Contains(err.Error(), fmt.Sprintf("%d workers died in a row", limit+1)) {
		t.Fatalf("after %d deaths without progress: %v; want ErrBrokenPool", limit+1, err)
	}
	p.Close()
	if got := f.starts(); got != n-1 {
		t.Errorf("%d workers started; want %d: none after the pool broke", got, n-1)
	}
}

// Shutdown lets queued and running tasks finish, then retires the workers (each exits cleanly
// rather than being killed) and starts no new ones.
func TestBookkeepingShutdown(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 2)
	h := newHold(t, t.Name())
	held := Submit(ctx, p, bkHold, t.Name())
	h.waitStarted(t)
	var futs []*Future[string]
	for i := range 4 {
		futs = append(futs, Submit(ctx, p, bkCount, fmt.Sprintf("%s/%d", t.Name(), i)))
	}
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	eventually(t, p, "Shutdown has begun", func() bool { return p.state == poolShuttingDown })
	if _, err := Apply(ctx, p, bkCount, t.Name()+"/late"); !errors.Is(err, ErrClosed) {
		t.Errorf("task submitted during Shutdown: %v; want ErrClosed", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a task was running", err)
	default:
	}
	h.let()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := held.Wait(ctx); err != nil {
		t.Errorf("running task: %v", err)
	}
	for i, fut := range futs {
		if _, err := fut.Wait(ctx); err != nil {
			t.Errorf("queued task %d: %v", i, err)
		}
	}
	for i := 1; i <= f.starts(); i++ {
		if ended, clean := f.proc(i).exitedCleanly(); !ended || !clean {
			t.Errorf("fake worker %d: ended %v, cleanly %v; want retired", i, ended, clean)
		}
	}
	if n := f.starts(); n != 2 {
		t.Errorf("%d workers started; want 2, none to replace the retired ones", n)
	}
}

// Close fails running and queued tasks with ErrClosed, kills the workers, and starts none.
func TestBookkeepingClose(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1)
	h := newHold(t, t.Name())
	held := Submit(ctx, p, bkHold, t.Name())
	h.waitStarted(t)
	queued := Submit(ctx, p, bkCount, t.Name())
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, fut := range map[string]*Future[string]{"running": held, "queued": queued} {
		if _, err := fut.Wait(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("%s task: %v; want ErrClosed", name, err)
		}
	}
	if r := runsOf(t.Name()); r != 0 {
		t.Errorf("the queued task ran %d times", r)
	}
	if ended, clean := f.proc(1).exitedCleanly(); !ended || clean {
		t.Errorf("worker: ended %v, cleanly %v; want killed", ended, clean)
	}
	if n := f.starts(); n != 1 {
		t.Errorf("%d workers started; want 1", n)
	}
	if _, err := Apply(ctx, p, bkCount, t.Name()); !errors.Is(err, ErrClosed) {
		t.Errorf("task after Close: %v; want ErrClosed", err)
	}
}

// A pool that breaks kills the workers it still has: nothing runs on a broken pool.
func TestBookkeepingBreakKillsSurvivors(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 2)
	readyWorker(t, p, 1)
	const survivor = 2
	readyWorker(t, p, survivor)
	n := 1
	// Kill every worker but the survivor, one at a time, each once the pool has it.
	for range maxDeathsNoProgress(2) + 1 {
		readyWorker(t, p, n)
		f.proc(n).kill()
		n = max(n, survivor) + 1 // its replacement: each death starts one
	}
	// The survivor is idle and would run a task until the last death is seen.
	eventually(t, p, "the pool is broken", func() bool { return p.state == poolBroken })
	if _, err := Apply(ctx, p, bkCount, t.Name()); !errors.Is(err, ErrBrokenPool) {
		t.Fatalf("task after %d deaths without progress: %v; want ErrBrokenPool", maxDeathsNoProgress(2)+1, err)
	}
	select {
	case <-f.proc(survivor).exited:
	case <-ctx.Done():
		t.Fatal("the broken pool's surviving worker was not killed")
	}
}

// A worker retired by WithMaxTasksPerWorker exits cleanly, is replaced once (by retireLocked, not
// again by its exit), and its exit counts as no death.
func TestBookkeepingMaxTasksReplacesOnce(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1, WithMaxTasksPerWorker(2))
	for i := range 4 {
		if _, err := Apply(ctx, p, bkCount, fmt.Sprintf("%s/%d", t.Name(), i)); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	readyWorker(t, p, 3) // tasks 0 and 1 ran on fake 1, 2 and 3 on fake 2; fake 3 waits for work
	eventually(t, p, "the retired workers are gone", func() bool { return len(p.workers) == 1 })
	if n := f.starts(); n != 3 {
		t.Errorf("%d workers started; want 3", n)
	}
	for i := 1; i <= 2; i++ {
		if ended, clean := f.proc(i).exitedCleanly(); !ended || !clean {
			t.Errorf("retired fake worker %d: ended %v, cleanly %v; want retired", i, ended, clean)
		}
	}
	p.mu.Lock()
	deaths := p.deathsNoProgress
	p.mu.Unlock()
	if deaths != 0 { // no task has finished since fake 2's exit to reset the count
		t.Errorf("retirements counted as %d deaths", deaths)
	}
}

// A cancelled task fails with its context's error at once; if it does not return within the
// cancel grace, its worker is killed and replaced, and that death is the task's, not one without
// progress. (A timeout ends a task the same way, by abort.)
func TestBookkeepingCancelKillsAfterGrace(t *testing.T) {
	ctx := testCtx(t)
	f := &fakeWorkers{}
	p := newFakePool(t, f, 1, WithCancelGrace(10*time.Millisecond))
	h := newHold(t, t.Name())
	tctx, cancel := context.WithCancel(ctx)
	fut := Submit(tctx, p, bkStubborn, t.Name())
	h.waitStarted(t)
	cancel()
	if _, err := fut.Wait(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrWorkerDied) {
		t.Fatalf("cancelled task: %v; want context.Canceled", err)
	}
	select {
	case <-f.proc(1).exited:
	case <-ctx.Done():
		t.Fatal("the worker of a task deaf to its cancel was not killed after the grace")
	}
	readyWorker(t, p, 2)
	p.mu.Lock()
	deaths := p.deathsNoProgress
	p.mu.Unlock()
	if deaths != 0 {
		t.Errorf("the kill of a worker running a task counted as %d deaths without progress", deaths)
	}
	if _, err := Apply(ctx, p, bkCount, t.Name()); err != nil {
		t.Fatalf("task after the kill: %v", err)
	}
}
