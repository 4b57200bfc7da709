//go:build unix

package mp_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mptest"
)

// What a pool tells an observer (observe.go), checked against real worker processes.

// PanicInGoroutine panics in a goroutine of its own, where no recover of the call's catches it: the
// worker process dies with exit status 2.
var PanicInGoroutine = mp.Register("test.panic_in_goroutine", func(ctx context.Context, msg string) (int, error) {
	go func() { panic(msg) }()
	select {}
})

// waitSnapshot polls p's snapshot until cond holds, and returns it.
func waitSnapshot(t *testing.T, p mp.Observer, what string, cond func(s mp.PoolSnapshot) bool) mp.PoolSnapshot {
	t.Helper()
	var s mp.PoolSnapshot
	waitFor(t, what, func() bool {
		s = p.Snapshot()
		return cond(s)
	})
	return s
}

// exitOf returns the recorded exit of worker id, if any.
func exitOf(s mp.PoolSnapshot, id int) (mp.WorkerExit, bool) {
	for _, e := range s.Exits {
		if e.ID == id {
			return e, true
		}
	}
	return mp.WorkerExit{}, false
}

// replacementOf returns the live worker that replaced worker id, if any.
func replacementOf(s mp.PoolSnapshot, id int) (mp.WorkerSnapshot, bool) {
	for _, w := range s.Workers {
		if w.Replaces == id {
			return w, true
		}
	}
	return mp.WorkerSnapshot{}, false
}

// TestPoolSnapshotWorkers: a new pool shows its named workers, idle, with their pids, memory and
// CPU time; a busy one shows the call it runs.
func TestPoolSnapshotWorkers(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(2), mp.WithPoolName("watched"))
	s := p.Snapshot()
	if s.Name != "watched" || s.Kind != "process" || s.Size != 2 || len(s.Workers) != 2 || s.Closed || s.Paused {
		t.Fatalf("snapshot of a new pool: %+v", s)
	}
	pids := map[int]bool{}
	for _, pid := range p.Pids() {
		pids[pid] = true
	}
	for i, w := range s.Workers {
		if w.ID != i+1 || !pids[w.Pid] || w.State != "idle" || w.Replaces != 0 || w.Started.IsZero() {
			t.Fatalf("worker %d: %+v (pids %v)", i, w, pids)
		}
		if w.RSS < 1<<20 {
			t.Fatalf("worker %d: RSS %d, want at least 1 MiB", i, w.RSS)
		}
	}
	f := mp.Submit(ctx, p, Spin, filepath.Join(t.TempDir(), "pid"))
	defer f.Cancel()
	s = waitSnapshot(t, p, "a busy worker", func(s mp.PoolSnapshot) bool {
		for _, w := range s.Workers {
			if w.State == "busy" && w.Task == "test.spin" && w.TaskID != 0 && !w.TaskStarted.IsZero() && w.CPU > 0 {
				return true
			}
		}
		return false
	})
	if s.Running != 1 || s.Counts.Submitted != 1 {
		t.Fatalf("running %d, counts %+v", s.Running, s.Counts)
	}
	if _, err := mp.Apply(ctx, p, Square, 3); err != nil {
		t.Fatal(err)
	}
	if c := p.Snapshot().Counts; c.Succeeded != 1 || c.Submitted != 2 {
		t.Fatalf("counts after one success: %+v", c)
	}
}

// TestPoolExitSIGKILL: a worker SIGKILLed from outside shows as ended by a signal, SIGKILL in the
// detail, and its replacement says whom it replaces.
func TestPoolExitSIGKILL(t *testing.T) {
	p := newPool(t, mp.WithWorkers(1))
	old := p.Snapshot().Workers[0]
	if err := syscall.Kill(old.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s := waitSnapshot(t, p, "the exit and the replacement", func(s mp.PoolSnapshot) bool {
		_, ended := exitOf(s, old.ID)
		_, replaced := replacementOf(s, old.ID)
		return ended && replaced
	})
	e, _ := exitOf(s, old.ID)
	nw, _ := replacementOf(s, old.ID)
	if e.Reason != mp.ExitSignal || !strings.Contains(e.Detail, "SIGKILL") || e.Pid != old.Pid || e.ReplacedBy != nw.ID || nw.Pid == old.Pid {
		t.Fatalf("exit %+v, replacement %+v", e, nw)
	}
}

// TestPoolExitReasons: os.Exit(3) in a call, WithMaxTasksPerWorker, a task timeout and Recycle
// each end a worker with their own reason.
func TestPoolExitReasons(t *testing.T) {
	ctx := ctxT(t)
	t.Run("exit", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(1))
		id := p.Snapshot().Workers[0].ID
		if _, err := mp.Apply(ctx, p, Exit, 3); !errors.Is(err, mp.ErrWorkerDied) {
			t.Fatalf("Apply(Exit, 3) = %v", err)
		}
		s := waitSnapshot(t, p, "the exit", func(s mp.PoolSnapshot) bool { _, ok := exitOf(s, id); return ok })
		e, _ := exitOf(s, id)
		if e.Reason != mp.ExitCode || !strings.Contains(e.Detail, "status 3") || e.Task != "test.exit" {
			t.Fatalf("exit %+v", e)
		}
		if s.Counts.WorkerDied != 1 || len(s.Failures) != 1 || s.Failures[0].Code != "mp.worker_died" || s.Failures[0].Task != "test.exit" {
			t.Fatalf("counts %+v, failures %+v", s.Counts, s.Failures)
		}
	})
	t.Run("max-tasks", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(1), mp.WithMaxTasksPerWorker(2))
		id := p.Snapshot().Workers[0].ID
		for i := range 2 {
			if _, err := mp.Apply(ctx, p, Square, i); err != nil {
				t.Fatal(err)
			}
		}
		s := waitSnapshot(t, p, "the retirement", func(s mp.PoolSnapshot) bool {
			_, ok := exitOf(s, id)
			_, r := replacementOf(s, id)
			return ok && r
		})
		if e, _ := exitOf(s, id); e.Reason != mp.ExitMaxTasks || s.ExitCounts[mp.ExitMaxTasks] != 1 {
			t.Fatalf("exit %+v, counts %v", e, s.ExitCounts)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(1), mp.WithTaskTimeout(100*time.Millisecond), mp.WithCancelGrace(50*time.Millisecond))
		id := p.Snapshot().Workers[0].ID
		if _, err := mp.Apply(ctx, p, Block, filepath.Join(t.TempDir(), "pid")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Apply of a stuck call = %v", err)
		}
		s := waitSnapshot(t, p, "the kill", func(s mp.PoolSnapshot) bool { _, ok := exitOf(s, id); return ok })
		e, _ := exitOf(s, id)
		if e.Reason != mp.ExitTimeout || !strings.Contains(e.Detail, "test.block") || e.Task != "test.block" {
			t.Fatalf("exit %+v", e)
		}
		if s.Counts.TimedOut != 1 || len(s.Failures) != 1 || s.Failures[0].Code != "context.DeadlineExceeded" {
			t.Fatalf("counts %+v, failures %+v", s.Counts, s.Failures)
		}
	})
	t.Run("panic", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(1))
		id := p.Snapshot().Workers[0].ID
		if _, err := mp.Apply(ctx, p, PanicInGoroutine, "unrecovered"); !errors.Is(err, mp.ErrWorkerDied) {
			t.Fatalf("Apply(PanicInGoroutine) = %v", err)
		}
		s := waitSnapshot(t, p, "the exit", func(s mp.PoolSnapshot) bool { _, ok := exitOf(s, id); return ok })
		if e, _ := exitOf(s, id); e.Reason != mp.ExitPanic || e.Task != "test.panic_in_goroutine" {
			t.Fatalf("exit %+v", e)
		}
	})
	t.Run("memory", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(1), mp.WithWorkerMemoryLimit(1<<20)) // every worker holds more
		id := p.Snapshot().Workers[0].ID
		s := waitSnapshot(t, p, "the exit", func(s mp.PoolSnapshot) bool { _, ok := exitOf(s, id); return ok })
		if e, _ := exitOf(s, id); e.Reason != mp.ExitMemory || !strings.Contains(e.Detail, "WithWorkerMemoryLimit") {
			t.Fatalf("exit %+v", e)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(2))
		if err := p.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		s := p.Snapshot()
		if !s.Closed || len(s.Workers) != 0 || len(s.Exits) != 2 || s.Exits[0].Reason != mp.ExitShutdown || s.Exits[1].Reason != mp.ExitShutdown || s.Exits[0].ReplacedBy != 0 {
			t.Fatalf("after Shutdown: %+v", s)
		}
	})
	t.Run("recycled", func(t *testing.T) {
		p := newPool(t, mp.WithWorkers(1))
		id := p.Snapshot().Workers[0].ID
		if err := p.Recycle(id); err != nil {
			t.Fatal(err)
		}
		if err := p.Recycle(id); !errors.Is(err, mp.ErrNotFound) {
			t.Fatalf("second Recycle = %v", err)
		}
		s := waitSnapshot(t, p, "the recycling", func(s mp.PoolSnapshot) bool {
			_, ok := exitOf(s, id)
			_, r := replacementOf(s, id)
			return ok && r
		})
		if e, _ := exitOf(s, id); e.Reason != mp.ExitRecycled || e.ReplacedBy == 0 {
			t.Fatalf("exit %+v", e)
		}
		if v, err := mp.Apply(ctx, p, Square, 5); err != nil || v != 25 {
			t.Fatalf("after Recycle: %d, %v", v, err)
		}
		if err := p.Recycle(9999); !errors.Is(err, mp.ErrNotFound) {
			t.Fatalf("Recycle(9999) = %v", err)
		}
	})
}

// TestPoolCancelTask: CancelTask fails the call's Future with context.Canceled at once and kills
// the process of a call that ignores its context within a second.
func TestPoolCancelTask(t *testing.T) {
	ctx := ctxT(t)
	p := newPool(t, mp.WithWorkers(1))
	pidFile := filepath.Join(t.TempDir(), "pid")
	f := mp.Submit(ctx, p, Spin, pidFile)
	pid := readPid(t, pidFile)
	s := waitSnapshot(t, p, "the busy worker", func(s mp.PoolSnapshot) bool { return s.Workers[0].State == "busy" })
	w := s.Workers[0]
	start := time.Now()
	if err := p.CancelTask(w.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "CancelTask") {
		t.Fatalf("Wait after CancelTask = %v", err)
	}
	for mptest.Exists(pid) {
		if time.Since(start) > time.Second {
			t.Fatalf("the spinning worker %d still runs %v after CancelTask", pid, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s = waitSnapshot(t, p, "the exit", func(s mp.PoolSnapshot) bool { _, ok := exitOf(s, w.ID); return ok })
	if e, _ := exitOf(s, w.ID); e.Reason != mp.ExitCancel || e.Task != "test.spin" {
		t.Fatalf("exit %+v", e)
	}
	if s.Counts.Cancelled != 1 {
		t.Fatalf("counts %+v", s.Counts)
	}
	if err := p.CancelTask(w.TaskID); !errors.Is(err, mp.ErrNotFound) {
		t.Fatalf("CancelTask of a finished call = %v", err)
	}
}

// TestPoolPause: a paused pool holds a queued call, and runs it on Resume.
func TestPoolPause(t *testing.T) {
	testPause(t, newPool(t, mp.WithWorkers(1)))
}

func testPause(t *testing.T, p interface {
	mp.Executor
	mp.Observer
	mp.Controller
	Shutdown(context.Context, ...mp.ShutdownOption) error
}) {
	ctx := ctxT(t)
	p.Pause()
	f := mp.Submit(ctx, p, Square, 7)
	waitSnapshot(t, p, "the queued call", func(s mp.PoolSnapshot) bool { return s.Paused && s.Queued == 1 })
	select {
	case <-f.Done():
		t.Fatal("a call ran on a paused pool")
	case <-time.After(200 * time.Millisecond):
	}
	if s := p.Snapshot(); s.Running != 0 || s.Queued != 1 {
		t.Fatalf("paused: %+v", s)
	}
	p.Resume()
	if v, err := f.Wait(ctx); err != nil || v != 49 {
		t.Fatalf("after Resume: %d, %v", v, err)
	}
	if p.Snapshot().Paused {
		t.Fatal("still paused after Resume")
	}
	// Shutdown runs what a pause held.
	p.Pause()
	f = mp.Submit(ctx, p, Square, 8)
	waitSnapshot(t, p, "the queued call", func(s mp.PoolSnapshot) bool { return s.Queued == 1 })
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown of a paused pool: %v", err)
	}
	if v, err := f.Wait(ctx); err != nil || v != 64 {
		t.Fatalf("a call held by a pause, after Shutdown: %d, %v", v, err)
	}
}

// TestPoolObserve: Observe sees each call's outcome until stopped, and the failures ring keeps
// the error, its code and a panic's stack.
func TestPoolObserve(t *testing.T) {
	testObserve(t, newPool(t, mp.WithWorkers(1)), true)
}

func testObserve(t *testing.T, p interface {
	mp.Executor
	mp.Observer
}, process bool) {
	ctx := ctxT(t)
	var mu sync.Mutex
	var events []mp.TaskEvent
	stop := p.Observe(func(e mp.TaskEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	mp.Apply(ctx, p, Square, 2)
	mp.Apply(ctx, p, Fail, "seat 1")
	mp.Apply(ctx, p, Panic, "here")
	stop()
	stop() // twice is fine
	mp.Apply(ctx, p, Square, 3)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 3 {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	for i, want := range []struct{ task, outcome string }{{"test.square", "ok"}, {"test.fail", "failed"}, {"test.panic", "failed"}} {
		e := events[i]
		if e.Task != want.task || e.Outcome != want.outcome || e.Ran <= 0 || e.Queued < 0 || (process && e.Pid == 0) {
			t.Fatalf("event %d: %+v, want %v", i, e, want)
		}
	}
	s := p.Snapshot()
	if s.Counts.Succeeded != 2 || s.Counts.Failed != 2 || len(s.Failures) != 2 {
		t.Fatalf("counts %+v, failures %+v", s.Counts, s.Failures)
	}
	f0, f1 := s.Failures[0], s.Failures[1]
	if f0.Code != "mp_test.sold_out" || !errors.Is(f0.Err, ErrSoldOut) || f0.Attempts != 1 || f0.Stack != "" {
		t.Fatalf("failure 0: %+v", f0)
	}
	if f1.Task != "test.panic" || !strings.Contains(f1.Error, "boom: here") || !strings.Contains(f1.Stack, "goroutine") {
		t.Fatalf("failure 1: %+v", f1)
	}
}

// TestPoolMapProgress: a running Map shows on the snapshot with its total and progress, and is
// gone once it returns.
func TestPoolMapProgress(t *testing.T) {
	testMapProgress(t, newPool(t, mp.WithWorkers(2)))
}

func testMapProgress(t *testing.T, p interface {
	mp.Executor
	mp.Observer
}) {
	ctx := ctxT(t)
	ds := make([]time.Duration, 20)
	for i := range ds {
		ds[i] = 20 * time.Millisecond
	}
	done := make(chan error, 1)
	go func() {
		_, err := mp.Map(ctx, p, Sleep, ds, mp.WithChunkSize(1))
		done <- err
	}()
	s := waitSnapshot(t, p, "the map's progress", func(s mp.PoolSnapshot) bool {
		return len(s.Maps) == 1 && s.Maps[0].Done > 0
	})
	if m := s.Maps[0]; m.Task != "test.sleep" || m.Total != 20 || m.Done > 20 || m.Started.IsZero() {
		t.Fatalf("map %+v", m)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); len(s.Maps) != 0 {
		t.Fatalf("maps after the Map returned: %+v", s.Maps)
	}
}

// TestGoroutinePoolObserve: a GoroutinePool shows its workers and calls, and obeys the same
// controls.
func TestGoroutinePoolObserve(t *testing.T) {
	ctx := ctxT(t)
	newGP := func(t *testing.T, opts ...mp.PoolOption) *mp.GoroutinePool {
		p, err := mp.NewGoroutinePool(ctx, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	t.Run("observe", func(t *testing.T) { testObserve(t, newGP(t, mp.WithWorkers(1)), false) })
	t.Run("pause", func(t *testing.T) { testPause(t, newGP(t, mp.WithWorkers(1))) })
	t.Run("map", func(t *testing.T) { testMapProgress(t, newGP(t, mp.WithWorkers(2))) })
	t.Run("cancel and recycle", func(t *testing.T) {
		p := newGP(t, mp.WithWorkers(2), mp.WithPoolName("g"))
		s := p.Snapshot()
		if s.Name != "g" || s.Kind != "goroutine" || len(s.Workers) != 2 || s.Workers[0].ID != 1 {
			t.Fatalf("snapshot %+v", s)
		}
		f := mp.Submit(ctx, p, Sleep, time.Minute)
		s = waitSnapshot(t, p, "the busy worker", func(s mp.PoolSnapshot) bool { return s.Running == 1 })
		var busy mp.WorkerSnapshot
		for _, w := range s.Workers {
			if w.State == "busy" {
				busy = w
			}
		}
		if busy.Task != "test.sleep" || busy.TaskID == 0 {
			t.Fatalf("workers %+v", s.Workers)
		}
		if err := p.CancelTask(busy.TaskID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after CancelTask = %v", err)
		}
		if err := p.CancelTask(busy.TaskID); !errors.Is(err, mp.ErrNotFound) {
			t.Fatalf("second CancelTask = %v", err)
		}
		if err := p.Recycle(busy.ID); err != nil {
			t.Fatal(err)
		}
		s = waitSnapshot(t, p, "the recycled worker's replacement", func(s mp.PoolSnapshot) bool {
			_, ended := exitOf(s, busy.ID)
			_, r := replacementOf(s, busy.ID)
			return ended && r
		})
		if e, _ := exitOf(s, busy.ID); e.Reason != mp.ExitRecycled || e.ReplacedBy == 0 {
			t.Fatalf("exit %+v", e)
		}
		if s.Counts.Cancelled != 1 || len(s.Workers) != 2 {
			t.Fatalf("snapshot %+v", s)
		}
	})
}
