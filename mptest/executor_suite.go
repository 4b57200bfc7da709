package mptest

import (
	"context"
	"errors"
	"fmt"
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
)

// ExecutorConfig is what TestExecutor asks of an executor it makes: how many calls it runs at
// once (mp.WithWorkers) and, when positive, the timeout of every task (mp.WithTaskTimeout).
type ExecutorConfig struct {
	Workers     int
	TaskTimeout time.Duration
}

// TestedExecutor is an executor made for TestExecutor, with its ways to end, as *mp.Pool has them.
type TestedExecutor struct {
	mp.Executor
	Shutdown func(ctx context.Context, opts ...mp.ShutdownOption) error
	Close    func() error
}

// ExecutorSuiteOption adjusts TestExecutor.
type ExecutorSuiteOption func(*suiteConfig)

type suiteConfig struct{ skip map[string]string }

// SkipExecutorTest skips the test (or subtest) name of the suite, saying why: an executor's
// documented exception to the contract.
func SkipExecutorTest(name, why string) ExecutorSuiteOption {
	return func(c *suiteConfig) { c.skip[name] = why }
}

var cfgSkip map[string]string

func skipIf(t *testing.T, skip map[string]string, name string) {
	if why, ok := skip[name]; ok {
		t.Skip(why)
	}
}

// TestExecutor runs the tests every mp.Executor passes — the behaviour of Apply, Submit, Map,
// MapSeq, MapSeqUnordered, futures, callbacks, AsCompleted, cancellation, timeouts, progress,
// Shutdown and Close above the Executor seam — on executors made by newEx, each closed when its
// test ends (newEx registers that with t.Cleanup). The functions it runs are registered by this
// package, so the test binary must call mptest.Main (or mp.Init) in its TestMain. Its tests are
// subtests named Calls, MapSeq, MapFirstError, Cancel, TaskTimeout, Callbacks, WaitHelpers,
// ShutdownAndClose, Progress and BadInput.
func TestExecutor(t *testing.T, newEx func(t *testing.T, cfg ExecutorConfig) TestedExecutor, opts ...ExecutorSuiteOption) {
	cfg := suiteConfig{skip: map[string]string{}}
	for _, o := range opts {
		o(&cfg)
	}
	for _, s := range []struct {
		name string
		run  func(*testing.T, func(ExecutorConfig) TestedExecutor)
	}{
		{"Calls", suiteCalls}, {"MapSeq", suiteMapSeq}, {"MapFirstError", suiteMapFirstError},
		{"Cancel", suiteCancel}, {"TaskTimeout", suiteTaskTimeout}, {"Callbacks", suiteCallbacks},
		{"WaitHelpers", suiteWaitHelpers}, {"ShutdownAndClose", suiteShutdownAndClose},
		{"Progress", suiteProgress}, {"BadInput", suiteBadInput},
	} {
		t.Run(s.name, func(t *testing.T) {
			skipIf(t, cfg.skip, s.name)
			cfgSkip = cfg.skip
			s.run(t, func(c ExecutorConfig) TestedExecutor { return newEx(t, c) })
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ints(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
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

// startedSleepOn submits sleepAfterTouch and waits until it has started.
func startedSleepOn(t *testing.T, ctx context.Context, ex mp.Executor, ms int) *mp.Future[int] {
	t.Helper()
	path := filepath.Join(t.TempDir(), "started")
	f := mp.Submit(ctx, ex, sleepAfterTouch, touchSleepArg{Path: path, Ms: ms})
	waitFor(t, "the task to start", func() bool { _, err := os.Stat(path); return err == nil })
	return f
}

var errSoldOut = mp.RegisterError("mptest.sold_out", errors.New("sold out"))

// The functions of the suite.
var (
	square  = mp.Register("mptest.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	hello2  = mp.Register("mptest.hello2", func(ctx context.Context, s string) (string, error) { return "<" + s + ">", nil })
	panicky = mp.Register("mptest.panic", func(ctx context.Context, msg string) (int, error) { panic("boom: " + msg) })
	failAt  = mp.Register("mptest.fail_at", func(ctx context.Context, x int) (int, error) {
		if x == 500 {
			return 0, fmt.Errorf("item %d: %w", x, errSoldOut)
		}
		return x * x, nil
	})
	sleepSquare = mp.Register("mptest.sleep_square", func(ctx context.Context, x int) (int, error) {
		select {
		case <-time.After(time.Duration(x) * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return x * x, nil
	})
	sleep = mp.Register("mptest.sleep", func(ctx context.Context, d time.Duration) (struct{}, error) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		return struct{}{}, nil
	})
	touch = mp.Register("mptest.touch", func(ctx context.Context, a touchArg) (struct{}, error) {
		time.Sleep(a.After)
		return struct{}{}, os.WriteFile(a.Path, []byte("done"), 0o644)
	})
	sleepAfterTouch = mp.Register("mptest.sleep_after_touch", func(ctx context.Context, a touchSleepArg) (int, error) {
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
)

type touchArg struct {
	Path  string
	After time.Duration
}

type touchSleepArg struct {
	Path string
	Ms   int
}

func suiteCalls(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 2})
		if ex.Workers() != 2 {
			t.Fatalf("Workers = %d", ex.Workers())
		}
		if v, err := mp.Apply(ctx, ex, square, 9); err != nil || v != 81 {
			t.Fatalf("Apply = %d, %v", v, err)
		}
		fut := mp.Submit(ctx, ex, square, 5)
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
			got, err := mp.Map(ctx, ex, square, ints(tc.n), tc.opts...)
			if err != nil || len(got) != tc.n {
				t.Fatalf("%s: Map = %d results, %v", tc.name, len(got), err)
			}
			for i, v := range got {
				if v != i*i {
					t.Fatalf("%s: Map[%d] = %d", tc.name, i, v)
				}
			}
		}
		words, err := mp.Map(ctx, ex, hello2, []string{"a", "b", "c"}, mp.WithChunkSize(2))
		if err != nil || !slices.Equal(words, []string{"<a>", "<b>", "<c>"}) {
			t.Fatalf("Map(strings) = %v, %v", words, err)
		}
		// A task's error keeps its identity, and a panic is a *PanicError, on every executor.
		if _, err := mp.Apply(ctx, ex, failAt, 500); !errors.Is(err, errSoldOut) || !strings.Contains(err.Error(), "item 500") {
			t.Fatalf("Apply of a failing task = %v", err)
		}
		var pe *mp.PanicError
		if _, err := mp.Apply(ctx, ex, panicky, "boom"); !errors.As(err, &pe) || !strings.Contains(pe.Value, "boom") || pe.Stack == "" {
			t.Fatalf("Apply of a panicking task = %v", err)
		}
		if v, err := mp.Apply(ctx, ex, square, 3); err != nil || v != 9 {
			t.Fatalf("after a panic: %d, %v", v, err)
		}
	}
}

func suiteMapSeq(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 2})
		var got []int
		for v, err := range mp.MapSeq(ctx, ex, square, slices.Values(ints(200)), mp.WithChunkSize(3)) {
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
		for v, err := range mp.MapSeqUnordered(ctx, ex, square, slices.Values(ints(100))) {
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
		for v, err := range mp.MapSeq(ctx, ex, square, iter.Seq[int](endless), mp.WithChunkSize(1)) {
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
		for v, err := range mp.MapSeq(ctx, ex, square, iter.Seq[int](endless)) {
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
		for _, err := range mp.MapSeq(ctx, ex, failAt, slices.Values(ints(1000)), mp.WithChunkSize(10)) {
			if err != nil {
				last = err
				break
			}
			count++
		}
		if !errors.Is(last, errSoldOut) || count != 500 {
			t.Fatalf("MapSeq with a failing item: %d results then %v; want 500 then errSoldOut", count, last)
		}
		if _, err := mp.Apply(ctx, ex, square, 3); err != nil {
			t.Fatalf("executor unusable after an aborted MapSeq: %v", err)
		}
	}
}

func suiteMapFirstError(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 2})
		got, err := mp.Map(ctx, ex, failAt, ints(2000), mp.WithChunkSize(50))
		if !errors.Is(err, errSoldOut) || got != nil || !strings.Contains(err.Error(), "item 500") {
			t.Fatalf("Map = %d results, %v; want nil and errSoldOut from item 500", len(got), err)
		}
		// A cancelled Map returns at once with the context's error, and the tasks are cancelled.
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := mp.Map(cctx, ex, sleepSquare, []int{60_000, 60_000, 60_000}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Map with an expiring ctx = %v", err)
		}
		if v, err := mp.Apply(ctx, ex, square, 4); err != nil || v != 16 {
			t.Fatalf("after a cancelled Map: %d, %v", v, err)
		}
	}
}

func suiteCancel(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 1})
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
		touched := filepath.Join(t.TempDir(), "touched")
		busy := mp.Submit(ctx, ex, sleepSquare, 300)
		queued := mp.Submit(ctx, ex, touch, touchArg{Path: touched})
		queued.Cancel()
		if _, err := busy.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if v, err := mp.Apply(ctx, ex, square, 7); err != nil || v != 49 {
			t.Fatalf("after Cancel: %d, %v", v, err)
		}
		if _, err := os.Stat(touched); err == nil {
			t.Fatal("a cancelled queued task ran")
		}
		// Submit's ctx binds the task: when it ends, the task is cancelled.
		sctx, scancel := context.WithCancel(ctx)
		bound := mp.Submit(sctx, ex, sleepSquare, 60_000)
		scancel()
		if _, err := bound.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("task whose Submit ctx ended = %v", err)
		}
		// Apply returns at once when its ctx ends.
		actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer acancel()
		if _, err := mp.Apply(actx, ex, sleepSquare, 60_000); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply past its ctx = %v", err)
		}
	}
}

func suiteTaskTimeout(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 1, TaskTimeout: 100 * time.Millisecond})
		if _, err := mp.Apply(ctx, ex, sleep, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply past the timeout = %v", err)
		}
		if _, err := mp.Map(ctx, ex, sleepSquare, []int{1, 60_000}, mp.WithChunkSize(1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Map with an item past the timeout = %v", err)
		}
		// A call option overrides the executor's timeout.
		if v, err := mp.Apply(ctx, ex, sleepSquare, 300, mp.WithTaskTimeout(20*time.Second)); err != nil || v != 90000 {
			t.Fatalf("Apply with a longer call timeout = %d, %v", v, err)
		}
	}
}

func suiteCallbacks(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 2})
		var mu sync.Mutex
		var got []int
		running := 0 // callbacks of one executor run one at a time
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			fut := mp.Submit(ctx, ex, square, i)
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
		fut := mp.Submit(ctx, ex, square, 30)
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
	}
}

func suiteWaitHelpers(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 2})
		slow := mp.Submit(ctx, ex, sleepSquare, 400)
		fast := mp.Submit(ctx, ex, sleepSquare, 10)
		if i, err := mp.WaitAny(ctx, slow, fast); err != nil || i != 1 {
			t.Fatalf("WaitAny = %d, %v; want the fast one", i, err)
		}
		if err := mp.WaitAll(ctx, slow, fast); err != nil {
			t.Fatal(err)
		}
		var order []int
		futs := []*mp.Future[int]{mp.Submit(ctx, ex, sleepSquare, 300), mp.Submit(ctx, ex, sleepSquare, 1)}
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
		failing := mp.Submit(ctx, ex, failAt, 500)
		for f, err := range mp.AsCompleted(ctx, failing) {
			if f != failing || !errors.Is(err, errSoldOut) {
				t.Fatalf("AsCompleted of a failing task = %v, %v", f, err)
			}
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		hang := mp.Submit(ctx, ex, sleepSquare, 60_000)
		if _, err := mp.WaitAny(short, hang); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitAny past its ctx = %v", err)
		}
		hang.Cancel()
	}
}

func suiteShutdownAndClose(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		t.Run("Shutdown runs what is queued", func(t *testing.T) {
			ex := newEx(ExecutorConfig{Workers: 2})
			var futs []*mp.Future[int]
			for i := range 10 {
				futs = append(futs, mp.Submit(ctx, ex, sleepSquare, 20+i))
			}
			if err := ex.Shutdown(ctx); err != nil {
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
			if _, err := mp.Apply(ctx, ex, square, 1); !errors.Is(err, mp.ErrClosed) {
				t.Fatalf("Apply after Shutdown = %v", err)
			}
			if _, err := mp.Map(ctx, ex, square, ints(3)); !errors.Is(err, mp.ErrClosed) {
				t.Fatalf("Map after Shutdown = %v", err)
			}
			for _, err := range mp.MapSeq(ctx, ex, square, slices.Values(ints(3))) {
				if !errors.Is(err, mp.ErrClosed) {
					t.Fatalf("MapSeq after Shutdown = %v", err)
				}
				break
			}
			if err := ex.Close(); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("CancelPending", func(t *testing.T) {
			skipIf(t, cfgSkip, "CancelPending")
			ex := newEx(ExecutorConfig{Workers: 1})
			running := startedSleepOn(t, ctx, ex, 200)
			var queued []*mp.Future[int]
			for range 5 {
				queued = append(queued, mp.Submit(ctx, ex, sleepSquare, 200))
			}
			if err := ex.Shutdown(ctx, mp.CancelPending()); err != nil {
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
			ex := newEx(ExecutorConfig{Workers: 1})
			a := startedSleepOn(t, ctx, ex, 60_000)
			b := mp.Submit(ctx, ex, sleepSquare, 60_000)
			if err := ex.Close(); err != nil {
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
			if err := ex.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
			if err := ex.Shutdown(ctx); err != nil {
				t.Fatal("Shutdown after Close:", err)
			}
		})
		t.Run("Shutdown bounded by its ctx falls back to Close", func(t *testing.T) {
			ex := newEx(ExecutorConfig{Workers: 1})
			stuck := startedSleepOn(t, ctx, ex, 60_000)
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			// SleepAfterTouch honours its ctx only when Close cancels it.
			if err := ex.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown past its ctx = %v", err)
			}
			if _, err := stuck.Wait(ctx); !errors.Is(err, mp.ErrClosed) {
				t.Fatalf("stuck task after forced shutdown = %v", err)
			}
		})
	}
}

func suiteProgress(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 2})
		var mu sync.Mutex
		var reports []mp.Progress
		_, err := mp.Map(ctx, ex, sleepSquare, slices.Repeat([]int{30}, 20), mp.WithChunkSize(1), mp.WithProgress(func(pr mp.Progress) {
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
	}
}

func suiteBadInput(t *testing.T, newEx func(ExecutorConfig) TestedExecutor) {
	{
		ctx := ctxT(t)
		ex := newEx(ExecutorConfig{Workers: 1})
		if _, err := mp.Apply[int, int](ctx, ex, nil, 1); !errors.Is(err, mp.ErrNotRegistered) {
			t.Errorf("nil func: %v", err)
		}
		if _, err := mp.Apply(ctx, ex, &mp.Func[int, int]{}, 1); !errors.Is(err, mp.ErrNotRegistered) {
			t.Errorf("zero func: %v", err)
		}
		if _, err := mp.Map(ctx, ex, square, ints(3), mp.WithChunkSize(0)); !errors.Is(err, mp.ErrInvalidOption) {
			t.Errorf("WithChunkSize(0): %v", err)
		}
		if v, err := mp.Apply(ctx, ex, square, 11); err != nil || v != 121 {
			t.Fatalf("after bad input: %d, %v", v, err)
		}
	}
}
