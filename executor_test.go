//go:build unix

package mp_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// startedSleepOn submits SleepAfterTouch and waits until it has started.
func startedSleepOn(t *testing.T, ctx context.Context, ex mp.Executor, ms int) *mp.Future[int] {
	t.Helper()
	path := filepath.Join(t.TempDir(), "started")
	f := mp.Submit(ctx, ex, SleepAfterTouch, TouchSleepArg{Path: path, Ms: ms})
	waitFor(t, "the task to start", func() bool { _, err := os.Stat(path); return err == nil })
	return f
}

func TestExecutorCalls(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		if ex.Workers() != 2 {
			t.Fatalf("Workers = %d", ex.Workers())
		}
		if v, err := mp.Apply(ctx, ex, Square, 9); err != nil || v != 81 {
			t.Fatalf("Apply = %d, %v", v, err)
		}
		fut := mp.Submit(ctx, ex, Square, 5)
		for range 2 { // a future may be waited on any number of times
			if v, err := fut.Wait(ctx); err != nil || v != 25 {
				t.Fatalf("Submit.Wait = %d, %v", v, err)
			}
		}
		if fut.Cancel() {
			t.Fatal("Cancel of a done future reported true")
		}
		for _, tc := range []struct {
			name string
			opts []mp.CallOption
			n    int
		}{{"default chunks", nil, 10000}, {"chunk 1", []mp.CallOption{mp.WithChunkSize(1)}, 500}, {"chunk 7", []mp.CallOption{mp.WithChunkSize(7)}, 1000}, {"empty", nil, 0}} {
			got, err := mp.Map(ctx, ex, Square, ints(tc.n), tc.opts...)
			if err != nil || len(got) != tc.n {
				t.Fatalf("%s: Map = %d results, %v", tc.name, len(got), err)
			}
			for i, v := range got {
				if v != i*i {
					t.Fatalf("%s: Map[%d] = %d", tc.name, i, v)
				}
			}
		}
		words, err := mp.Map(ctx, ex, Hello2, []string{"a", "b", "c"}, mp.WithChunkSize(2))
		if err != nil || !slices.Equal(words, []string{"<a>", "<b>", "<c>"}) {
			t.Fatalf("Map(strings) = %v, %v", words, err)
		}
		// A task's error keeps its identity, and a panic is a *PanicError, on every executor.
		if _, err := mp.Apply(ctx, ex, FailAt, 500); !errors.Is(err, ErrSoldOut) || !strings.Contains(err.Error(), "item 500") {
			t.Fatalf("Apply of a failing task = %v", err)
		}
		var pe *mp.PanicError
		if _, err := mp.Apply(ctx, ex, Panic, "boom"); !errors.As(err, &pe) || !strings.Contains(pe.Value, "boom") || pe.Stack == "" {
			t.Fatalf("Apply of a panicking task = %v", err)
		}
		if v, err := mp.Apply(ctx, ex, Square, 3); err != nil || v != 9 {
			t.Fatalf("after a panic: %d, %v", v, err)
		}
	})
}

func TestExecutorMapSeq(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		var got []int
		for v, err := range mp.MapSeq(ctx, ex, Square, slices.Values(ints(200)), mp.WithChunkSize(3)) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if len(got) != 200 {
			t.Fatalf("MapSeq yielded %d", len(got))
		}
		for i, v := range got {
			if v != i*i {
				t.Fatalf("MapSeq[%d] = %d (in order)", i, v)
			}
		}
		var un []int
		for v, err := range mp.MapSeqUnordered(ctx, ex, Square, slices.Values(ints(100))) {
			if err != nil {
				t.Fatal(err)
			}
			un = append(un, v)
		}
		slices.Sort(un)
		if len(un) != 100 {
			t.Fatalf("MapSeqUnordered yielded %d", len(un))
		}
		for i, v := range un {
			if v != i*i {
				t.Fatalf("MapSeqUnordered sorted[%d] = %d", i, v)
			}
		}

		// An endless input streams with back-pressure: breaking out after 50 results leaves
		// the input read only a bounded distance ahead, and cancels what is outstanding.
		var pulled atomic.Int64
		endless := func(yield func(int) bool) {
			for i := 0; ; i++ {
				pulled.Add(1)
				if !yield(i) {
					return
				}
			}
		}
		n := 0
		for v, err := range mp.MapSeq(ctx, ex, Square, iter.Seq[int](endless), mp.WithChunkSize(1)) {
			if err != nil || v != n*n {
				t.Fatalf("endless[%d] = %d, %v", n, v, err)
			}
			n++
			if n == 50 {
				break
			}
		}
		if got := pulled.Load(); got > 50+2*int64(ex.Workers())+1 {
			t.Fatalf("the input was read %d items ahead of 50 results: not bounded", got)
		}
		pulled.Store(0)
		n = 0
		for v, err := range mp.MapSeq(ctx, ex, Square, iter.Seq[int](endless)) {
			if err != nil || v != n*n {
				t.Fatalf("endless (automatic chunks)[%d] = %d, %v", n, v, err)
			}
			n++
			if n == 20000 {
				break
			}
		}
		if got := pulled.Load(); got > 20000+2*int64(ex.Workers())*1024+1 {
			t.Fatalf("automatic chunks read %d items for 20000 results: not bounded", got)
		}
		// The first error ends the sequence, after the results before it.
		var last error
		count := 0
		for _, err := range mp.MapSeq(ctx, ex, FailAt, slices.Values(ints(1000)), mp.WithChunkSize(10)) {
			if err != nil {
				last = err
				break
			}
			count++
		}
		if !errors.Is(last, ErrSoldOut) || count != 500 {
			t.Fatalf("MapSeq with a failing item: %d results then %v; want 500 then ErrSoldOut", count, last)
		}
		if _, err := mp.Apply(ctx, ex, Square, 3); err != nil {
			t.Fatalf("executor unusable after an aborted MapSeq: %v", err)
		}
	})
}

func TestExecutorMapFirstError(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		got, err := mp.Map(ctx, ex, FailAt, ints(2000), mp.WithChunkSize(50))
		if !errors.Is(err, ErrSoldOut) || got != nil || !strings.Contains(err.Error(), "item 500") {
			t.Fatalf("Map = %d results, %v; want nil and ErrSoldOut from item 500", len(got), err)
		}
		// A cancelled Map returns at once with the context's error, and the tasks are cancelled.
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := mp.Map(cctx, ex, SleepSquare, []int{60_000, 60_000, 60_000}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Map with an expiring ctx = %v", err)
		}
		if v, err := mp.Apply(ctx, ex, Square, 4); err != nil || v != 16 {
			t.Fatalf("after a cancelled Map: %d, %v", v, err)
		}
	})
}

func TestExecutorCancel(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(1))
		// Future.Cancel on a running task that honours its context: it fails with
		// context.Canceled, and the executor goes on.
		fut := startedSleepOn(t, ctx, ex, 60_000)
		if !fut.Cancel() {
			t.Fatal("Cancel reported false on a running task")
		}
		if _, err := fut.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled future = %v", err)
		}
		// A queued task that is cancelled never runs.
		touch := filepath.Join(t.TempDir(), "touched")
		busy := mp.Submit(ctx, ex, SleepSquare, 300)
		queued := mp.Submit(ctx, ex, Touch, TouchArg{Path: touch})
		queued.Cancel()
		if _, err := busy.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := mp.Apply(ctx, ex, Square, 7); err != nil || v != 49 {
			t.Fatalf("after Cancel: %d, %v", v, err)
		}
		if _, err := os.Stat(touch); err == nil {
			t.Fatal("a cancelled queued task ran")
		}
		// Submit's ctx binds the task: when it ends, the task is cancelled.
		sctx, scancel := context.WithCancel(ctx)
		bound := mp.Submit(sctx, ex, SleepSquare, 60_000)
		scancel()
		if _, err := bound.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("task whose Submit ctx ended = %v", err)
		}
		// Apply returns at once when its ctx ends.
		actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer acancel()
		if _, err := mp.Apply(actx, ex, SleepSquare, 60_000); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply past its ctx = %v", err)
		}
	})
}

func TestExecutorTaskTimeout(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(1), mp.WithTaskTimeout(100*time.Millisecond))
		if _, err := mp.Apply(ctx, ex, Sleep, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply past the timeout = %v", err)
		}
		if _, err := mp.Map(ctx, ex, SleepSquare, []int{1, 60_000}, mp.WithChunkSize(1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Map with an item past the timeout = %v", err)
		}
		// A call option overrides the executor's timeout.
		if v, err := mp.Apply(ctx, ex, SleepSquare, 300, mp.WithTaskTimeout(20*time.Second)); err != nil || v != 90000 {
			t.Fatalf("Apply with a longer call timeout = %d, %v", v, err)
		}
	})
}

func TestExecutorCallbacks(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		var mu sync.Mutex
		var got []int
		running := 0 // callbacks of one executor run one at a time
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			fut := mp.Submit(ctx, ex, Square, i)
			if i == 3 {
				fut.OnDone(func(int, error) { panic("a callback panics") })
			}
			fut.OnDone(func(v int, err error) {
				defer wg.Done()
				mu.Lock()
				running++
				if running > 1 {
					t.Error("two callbacks ran at once")
				}
				got = append(got, v)
				mu.Unlock()
				time.Sleep(time.Millisecond) // widen the window for an overlap
				mu.Lock()
				running--
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(got)
		if len(got) != 20 {
			t.Fatalf("%d callbacks ran", len(got))
		}
		for i, v := range got {
			if v != i*i {
				t.Fatalf("callback values %v", got)
			}
		}
		// A callback on a done future runs too.
		fut := mp.Submit(ctx, ex, Square, 30)
		fut.Wait(ctx)
		ran := make(chan int, 1)
		fut.OnDone(func(v int, err error) { ran <- v })
		select {
		case v := <-ran:
			if v != 900 {
				t.Fatalf("late callback got %d", v)
			}
		case <-ctx.Done():
			t.Fatal("a callback on a done future did not run")
		}
	})
}

func TestExecutorWaitHelpers(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		slow := mp.Submit(ctx, ex, SleepSquare, 400)
		fast := mp.Submit(ctx, ex, SleepSquare, 10)
		if i, err := mp.WaitAny(ctx, slow, fast); err != nil || i != 1 {
			t.Fatalf("WaitAny = %d, %v; want the fast one", i, err)
		}
		if err := mp.WaitAll(ctx, slow, fast); err != nil {
			t.Fatal(err)
		}
		var order []int
		futs := []*mp.Future[int]{mp.Submit(ctx, ex, SleepSquare, 300), mp.Submit(ctx, ex, SleepSquare, 1)}
		for f, err := range mp.AsCompleted(ctx, futs...) {
			if err != nil {
				t.Fatal(err)
			}
			v, _ := f.Wait(ctx)
			order = append(order, v)
		}
		if !slices.Equal(order, []int{1, 90000}) {
			t.Fatalf("AsCompleted order %v", order)
		}
		// AsCompleted yields a task's error with its future, as MapSeq yields it.
		failing := mp.Submit(ctx, ex, FailAt, 500)
		for f, err := range mp.AsCompleted(ctx, failing) {
			if f != failing || !errors.Is(err, ErrSoldOut) {
				t.Fatalf("AsCompleted of a failing task = %v, %v", f, err)
			}
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		hang := mp.Submit(ctx, ex, SleepSquare, 60_000)
		if _, err := mp.WaitAny(short, hang); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitAny past its ctx = %v", err)
		}
		hang.Cancel()
	})
}

func TestExecutorShutdownAndClose(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		t.Run("Shutdown runs what is queued", func(t *testing.T) {
			ex := newEx(mp.WithWorkers(2))
			var futs []*mp.Future[int]
			for i := range 10 {
				futs = append(futs, mp.Submit(ctx, ex, SleepSquare, 20+i))
			}
			if err := ex.shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			for i, f := range futs {
				select {
				case <-f.Done():
				default:
					t.Fatalf("task %d not done when Shutdown returned", i)
				}
				if v, err := f.Wait(ctx); err != nil || v != (20+i)*(20+i) {
					t.Fatalf("queued task %d after Shutdown = %d, %v; want it run", i, v, err)
				}
			}
			if _, err := mp.Apply(ctx, ex, Square, 1); !errors.Is(err, mp.ErrClosed) {
				t.Fatalf("Apply after Shutdown = %v", err)
			}
			if _, err := mp.Map(ctx, ex, Square, ints(3)); !errors.Is(err, mp.ErrClosed) {
				t.Fatalf("Map after Shutdown = %v", err)
			}
			for _, err := range mp.MapSeq(ctx, ex, Square, slices.Values(ints(3))) {
				if !errors.Is(err, mp.ErrClosed) {
					t.Fatalf("MapSeq after Shutdown = %v", err)
				}
				break
			}
			if err := ex.close(); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("CancelPending", func(t *testing.T) {
			ex := newEx(mp.WithWorkers(1))
			running := startedSleepOn(t, ctx, ex, 200)
			var queued []*mp.Future[int]
			for range 5 {
				queued = append(queued, mp.Submit(ctx, ex, SleepSquare, 200))
			}
			if err := ex.shutdown(ctx, mp.CancelPending()); err != nil {
				t.Fatal(err)
			}
			if v, err := running.Wait(ctx); err != nil || v != 40000 {
				t.Fatalf("running task = %d, %v", v, err)
			}
			for _, f := range queued {
				if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("pending task after Shutdown(CancelPending) = %v", err)
				}
			}
		})
		t.Run("Close fails running and queued tasks at once", func(t *testing.T) {
			ex := newEx(mp.WithWorkers(1))
			a := startedSleepOn(t, ctx, ex, 60_000)
			b := mp.Submit(ctx, ex, SleepSquare, 60_000)
			if err := ex.close(); err != nil {
				t.Fatal(err)
			}
			for _, f := range []*mp.Future[int]{a, b} {
				select {
				case <-f.Done():
				default:
					t.Fatal("a task was not done when Close returned")
				}
				if _, err := f.Wait(ctx); !errors.Is(err, mp.ErrClosed) {
					t.Fatalf("task after Close = %v", err)
				}
			}
			if err := ex.close(); err != nil {
				t.Fatal("second Close:", err)
			}
			if err := ex.shutdown(ctx); err != nil {
				t.Fatal("Shutdown after Close:", err)
			}
		})
		t.Run("Shutdown bounded by its ctx falls back to Close", func(t *testing.T) {
			ex := newEx(mp.WithWorkers(1))
			stuck := startedSleepOn(t, ctx, ex, 60_000)
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			// SleepAfterTouch honours its ctx only when Close cancels it.
			if err := ex.shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown past its ctx = %v", err)
			}
			if _, err := stuck.Wait(ctx); !errors.Is(err, mp.ErrClosed) {
				t.Fatalf("stuck task after forced shutdown = %v", err)
			}
		})
	})
}

func TestExecutorProgress(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(2))
		var mu sync.Mutex
		var reports []mp.Progress
		_, err := mp.Map(ctx, ex, SleepSquare, slices.Repeat([]int{30}, 20), mp.WithChunkSize(1), mp.WithProgress(func(pr mp.Progress) {
			mu.Lock()
			reports = append(reports, pr)
			mu.Unlock()
		}))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(reports) < 2 {
			t.Fatalf("reports %v", reports)
		}
		last := reports[len(reports)-1]
		if last.Done != 20 || last.Total != 20 || last.Rate() <= 0 {
			t.Fatalf("last report %+v", last)
		}
		for i := 1; i < len(reports); i++ {
			if reports[i].Done < reports[i-1].Done {
				t.Fatalf("progress went backwards: %v", reports)
			}
		}
	})
}

func TestExecutorBadInput(t *testing.T) {
	eachExecutor(t, func(t *testing.T, newEx func(...mp.PoolOption) testExecutor) {
		ctx := ctxT(t)
		ex := newEx(mp.WithWorkers(1))
		if _, err := mp.Apply[int, int](ctx, ex, nil, 1); !errors.Is(err, mp.ErrNotRegistered) {
			t.Errorf("nil func: %v", err)
		}
		if _, err := mp.Apply(ctx, ex, &mp.Func[int, int]{}, 1); !errors.Is(err, mp.ErrNotRegistered) {
			t.Errorf("zero func: %v", err)
		}
		if _, err := mp.Map(ctx, ex, Square, ints(3), mp.WithChunkSize(0)); !errors.Is(err, mp.ErrInvalidOption) {
			t.Errorf("WithChunkSize(0): %v", err)
		}
		if v, err := mp.Apply(ctx, ex, Square, 11); err != nil || v != 121 {
			t.Fatalf("after bad input: %d, %v", v, err)
		}
	})
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
