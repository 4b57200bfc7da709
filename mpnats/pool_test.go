//go:build unix

package mpnats_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

func TestPoolRuns(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 2)
	xs := make([]int, 1000)
	for i := range xs {
		xs[i] = i
	}
	got, err := mp.Map(ctx, p, Square, xs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("Map: [%d] = %d", i, v)
		}
	}
	if v, err := mp.Apply(ctx, p, Square, 7); v != 49 || err != nil {
		t.Fatalf("Apply: %d, %v", v, err)
	}
	_, err = mp.Apply(ctx, p, Fail, "tickets")
	if !errors.Is(err, ErrSoldOut) || !strings.Contains(err.Error(), `buying "tickets"`) {
		t.Fatalf("a function's error: %v, want ErrSoldOut", err)
	}
	_, err = mp.Apply(ctx, p, Panic, "here")
	var pe *mp.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom: here" {
		t.Fatalf("a panic: %v", err)
	}
	if p.Redeliveries() != 0 {
		t.Fatalf("%d redeliveries, for tasks that never died", p.Redeliveries())
	}
}

// A worker process that dies has its task run again at once; one that dies every time fails its
// Future with ErrWorkerDied after the attempts, saying why each ended.
func TestPoolWorkerDeath(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 1)
	start := time.Now()
	pid, err := mp.Apply(ctx, p, ExitOnce, t.TempDir())
	if err != nil || pid <= 0 {
		t.Fatalf("after one death: %d, %v", pid, err)
	}
	if d := time.Since(start); d > 10*time.Second { // the ack wait is 2 s; a Nak is at once
		t.Fatalf("redelivery took %v", d)
	}
	if p.Redeliveries() != 1 {
		t.Fatalf("%d redeliveries, want 1", p.Redeliveries())
	}
	_, err = mp.Apply(ctx, p, Exit, 7)
	if !errors.Is(err, mp.ErrWorkerDied) || !strings.Contains(err.Error(), "after 3 attempts") || strings.Count(err.Error(), "exited with status 7") != 3 {
		t.Fatalf("always dying: %v", err)
	}
	_, err = mp.Apply(ctx, p, Exit, 7, mp.WithRetries(0))
	if !errors.Is(err, mp.ErrWorkerDied) || !strings.Contains(err.Error(), "after 1 attempts") {
		t.Fatalf("WithRetries(0): %v", err)
	}
}

// readPid waits for path to hold a pid.
func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err == nil {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("nothing wrote a pid to %s", path)
	return 0
}

// waitGone waits until process pid has ended (it is a grandchild: its parent reaps it).
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for syscall.Kill(pid, 0) == nil {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(b), ") Z ") {
			return // a zombie: dead, waiting for its parent
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after %v", pid, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Cancelling a running task kills its worker process, a busy loop included; the slot runs the
// next task.
func TestPoolCancelRunning(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 1)
	path := filepath.Join(t.TempDir(), "pid")
	f := mp.Submit(ctx, p, Spin, path)
	pid := readPid(t, path)
	if !f.Cancel() {
		t.Fatal("Cancel of a running task returned false")
	}
	if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	waitGone(t, pid, 2*time.Second)
	if v, err := mp.Apply(ctx, p, Square, 3); v != 9 || err != nil {
		t.Fatalf("after the cancel: %d, %v", v, err)
	}
}

// WithTaskTimeout stops a busy loop that ignores its ctx, by killing its process.
func TestPoolTimeout(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 1)
	path := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	_, err := mp.Apply(ctx, p, Spin, path, mp.WithTaskTimeout(300*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the timeout took %v", d)
	}
	waitGone(t, readPid(t, path), 2*time.Second)
	if p.Redeliveries() != 0 {
		t.Fatalf("a timed-out task was run again (%d redeliveries)", p.Redeliveries())
	}
}

// Arguments and results bigger than a message go by the Object Store, which is empty afterwards;
// a result over the limit is a clear error, not retried.
func TestPoolBigValues(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 1, mpnatsMaxResult(4<<20))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	got, err := mp.Apply(ctx, p, Echo, big)
	if err != nil || !slices.Equal(got, big) {
		t.Fatalf("a 3 MiB echo: %d bytes, %v", len(got), err)
	}
	_, err = mp.Apply(ctx, p, Repeat, 5<<20)
	if !errors.Is(err, mp.ErrTooLarge) || !strings.Contains(err.Error(), "WithMaxResultSize") {
		t.Fatalf("a result over the limit: %v", err)
	}
	if n := objectsLeft(t, p); n != 0 {
		t.Fatalf("%d objects left in the store", n)
	}
}

// Snapshot and Observe report the calls by outcome and the cluster's agents.
func TestPoolSnapshot(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 2)
	var mu sync.Mutex
	outcomes := map[string]int{}
	stop := p.Observe(func(ev mp.TaskEvent) {
		mu.Lock()
		outcomes[ev.Outcome]++
		mu.Unlock()
		if ev.Outcome != "cancelled" && (ev.Pid != os.Getpid() || ev.Host == "") {
			t.Errorf("event %+v: want this process as the agent", ev)
		}
	})
	defer stop()
	mp.Apply(ctx, p, Square, 2)
	mp.Apply(ctx, p, Fail, "x")
	mp.Apply(ctx, p, Exit, 1, mp.WithRetries(1))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	mp.Apply(cctx, p, Square, 3)
	s := p.Snapshot()
	c := s.Counts
	if s.Kind != "nats" || s.Size != 2 || c.Succeeded != 1 || c.Failed != 1 || c.WorkerDied != 1 || c.Retried != 1 || c.Cancelled+c.Submitted < 3 {
		t.Fatalf("snapshot %+v", s)
	}
	if s.Cluster == nil || len(s.Cluster.Agents) != 1 || s.Cluster.Agents[0].Slots != 2 || s.Cluster.Agents[0].Lost || s.Cluster.Agents[0].Pid != os.Getpid() {
		t.Fatalf("cluster %+v", s.Cluster)
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes["ok"] != 1 || outcomes["failed"] != 1 || outcomes["died"] != 1 {
		t.Fatalf("observed outcomes %v", outcomes)
	}
}

// An agent takes only as many tasks as it has free slots, and a task cancelled while it waits is
// removed and never runs: with one slot busy, a second task stays in the stream; cancelled, it is
// gone, and the next task the slot runs is the one after it.
func TestPoolCancelQueuedNeverRuns(t *testing.T) {
	ctx := ctxT(t)
	c, p := inProcess(t, 1)
	dir := t.TempDir()
	busy := mp.Submit(ctx, p, Spin, filepath.Join(dir, "busy"))
	readPid(t, filepath.Join(dir, "busy"))
	queued := mp.Submit(ctx, p, Spin, filepath.Join(dir, "queued"))
	for deadline := time.Now().Add(10 * time.Second); ; { // the second task is in the stream
		out, waiting := mpnats.TaskPending(t, c)
		if out != 1 {
			t.Fatalf("%d tasks handed to an agent of 1 slot, want 1", out)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second task is not waiting in the stream (%d waiting)", waiting)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !queued.Cancel() {
		t.Fatal("Cancel of a queued task returned false")
	}
	if _, err := queued.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled queued task: %v", err)
	}
	busy.Cancel()
	if _, err := busy.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled running task: %v", err)
	}
	if v, err := mp.Apply(ctx, p, Square, 4); v != 16 || err != nil { // the slot's next task
		t.Fatalf("after the cancels: %d, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "queued")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the task cancelled before delivery ran (%v)", err)
	}
	if d := p.Duplicates(); d != 0 {
		t.Fatalf("%d duplicates", d)
	}
}
