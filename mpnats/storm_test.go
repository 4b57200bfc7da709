//go:build linux

package mpnats_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// childPids lists the processes whose parent is this one: here, the in-process agent's workers.
func childPids(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // it ended
		}
		// pid (comm) state ppid ...; comm may hold spaces, so read after the last ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPoolKillStormTinyTasks: tiny tasks on a NATS pool while the agent's worker processes are
// SIGKILLed over and over. Every Future completes exactly once, with the right value or an
// error matching ErrWorkerDied or ErrResultLost (only a task whose worker died on each of its
// attempts), and the storm did kill workers.
func TestPoolKillStormTinyTasks(t *testing.T) {
	ctx := ctxT(t)
	_, p := inProcess(t, 2)
	const n = 1500
	var kills atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Only workers that have lived a while are killed: one killed during its start counts as
		// a failed start, and the agent's local pool stops after three of those in a row (a
		// binary that cannot start its workers), which is not what this test is about.
		seen := map[int]time.Time{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			for _, pid := range childPids(t) {
				first, ok := seen[pid]
				if !ok {
					seen[pid] = time.Now()
					continue
				}
				if time.Since(first) > 300*time.Millisecond {
					if syscall.Kill(pid, syscall.SIGKILL) == nil {
						kills.Add(1)
					}
					break // one a round: the pool must go on running tasks between kills
				}
			}
		}
	}()
	futs := make([]*mp.Future[int], n)
	var completions [n]atomic.Int32
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Square, i)
		futs[i].OnDone(func(int, error) { completions[i].Add(1) })
	}
	var ok, died int
	for i, f := range futs {
		v, err := f.Wait(ctx)
		switch {
		case err == nil && v == i*i:
			ok++
		case err == nil:
			t.Errorf("task %d = %d; want %d", i, v, i*i)
		case errors.Is(err, mp.ErrWorkerDied), errors.Is(err, mp.ErrResultLost):
			died++ // its worker died on each of its attempts
		default:
			t.Errorf("task %d: %v; want its value, ErrWorkerDied or ErrResultLost", i, err)
		}
	}
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for i := range completions {
		for completions[i].Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if c := completions[i].Load(); c != 1 {
			t.Errorf("task %d completed %d times; want once", i, c)
		}
	}
	if kills.Load() == 0 {
		t.Fatal("the storm killed no worker: nothing was tested")
	}
	t.Logf("%d workers killed; %d tasks ok, %d failed as their workers died; %d redeliveries, %d duplicates dropped",
		kills.Load(), ok, died, p.Redeliveries(), p.Duplicates())
	if ok == 0 {
		t.Error("no task succeeded under the storm")
	}
}

// TestAgentBrokenPoolHandsTasksBack: SIGKILLs that hit the agent's workers as they start break
// its local pool (it stops after three failed starts in a row). The agent then stops with an
// error matching ErrBrokenPool instead of failing the tasks it takes: they go back, and a fresh
// agent runs every one of them.
func TestAgentBrokenPoolHandsTasksBack(t *testing.T) {
	ctx := ctxT(t)
	c, err := mpnats.Start(ctx, mpnats.WithAckWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p, err := mpnats.NewPool(ctx, c, "broken")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	actx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, c, mpnats.WithSlots(2)) }()
	waitWorkers(t, p, 2) // the agent runs, its workers started

	const n = 200
	futs := make([]*mp.Future[int], n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Square, i)
	}
	// Kill every child as soon as it appears, until the agent gives up.
	var serveErr error
	deadline := time.Now().Add(60 * time.Second)
storm:
	for {
		select {
		case serveErr = <-served:
			break storm
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent's pool did not break under 60s of kills")
		}
		for _, pid := range childPids(t) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if !errors.Is(serveErr, mp.ErrBrokenPool) {
		t.Fatalf("Serve returned %v; want an error matching mp.ErrBrokenPool", serveErr)
	}
	go func() { served <- mpnats.Serve(actx, c, mpnats.WithSlots(2)) }()
	for i, f := range futs {
		v, err := f.Wait(ctx)
		if err != nil && !errors.Is(err, mp.ErrWorkerDied) && !errors.Is(err, mp.ErrResultLost) {
			t.Errorf("task %d: %v; want its value (or a worker-death error, from the storm)", i, err)
		} else if err == nil && v != i*i {
			t.Errorf("task %d = %d; want %d", i, v, i*i)
		}
	}
	stopAgent()
	if err := <-served; err != nil {
		t.Errorf("the second agent's Serve: %v", err)
	}
}
