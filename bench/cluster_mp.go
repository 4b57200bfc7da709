//go:build unix

package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
	"golang.org/x/sys/unix"
)

// clusterWorkers is the size of the warm cluster of the cluster workloads, as dask's 2-worker
// LocalCluster.
const clusterWorkers = 2

// clusterWarm is how many tasks warm a cluster before it is timed, as in dask_bench.py.
const clusterWarm = 100

// taskCPU is the CPU time each task of the cluster_cpu workloads spins for (dask_bench.py's
// CPU_TASK_S).
const taskCPU = 10 * time.Millisecond

// SpinCPU spins until its thread has used d of CPU time, then returns x: the task of the
// cluster_cpu workloads, the same work as dask_bench.py's spin.
var SpinCPU = mp.Register("bench.spin_cpu", func(ctx context.Context, a SpinArg) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, err := threadCPU()
	if err != nil {
		return 0, err
	}
	for {
		now, err := threadCPU()
		if err != nil {
			return 0, err
		}
		if now-start >= a.CPU {
			return a.X, nil
		}
	}
})

// SpinArg is SpinCPU's argument: the value to return and the CPU time to spend first.
type SpinArg struct {
	X   int
	CPU time.Duration
}

func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("bench: the thread's CPU time: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

// inProcessCluster starts the in-process cluster of the cluster workloads (not timed): an
// embedded server on no port, an agent in this process with slots slots (its tasks run in
// worker processes), a pool on it, warmed with clusterWarm tasks. stop ends them all.
func inProcessCluster(ctx context.Context, slots int) (p *mpnats.Pool, stop func() error, err error) {
	c, err := mpnats.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	actx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, c, mpnats.WithSlots(slots)) }()
	stop = func() error {
		if p != nil {
			p.Close()
		}
		cancel()
		serr := <-served
		cerr := c.Close()
		if serr != nil {
			return serr
		}
		return cerr
	}
	if p, err = mpnats.NewPool(ctx, c, "bench"); err != nil {
		stop()
		return nil, nil, err
	}
	if err := warm(ctx, p, slots); err != nil {
		stop()
		return nil, nil, err
	}
	return p, stop, nil
}

// warm waits until the pool sees slots slots, then runs clusterWarm tasks.
func warm(ctx context.Context, p mp.Executor, slots int) error {
	for p.Workers() < slots {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: the agents did not report in: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	xs := make([]int, clusterWarm)
	_, err := mp.Map(ctx, p, Square, xs, mp.WithChunkSize(1))
	return err
}

// clusterLatencyMP times s.N round trips of one Apply each.
func clusterLatencyMP(ctx context.Context, s Size) (Result, error) {
	p, stop, err := inProcessCluster(ctx, clusterWorkers)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	r := Result{Params: map[string]any{"op": "mp.Apply(ctx, pool, Square, i)", "cluster": "in-process embedded server, 1 agent of 2 slots", "warm_tasks": clusterWarm}}
	for i := range s.N {
		t := time.Now()
		v, err := mp.Apply(ctx, p, Square, i)
		if err != nil {
			return Result{}, err
		}
		if v != i*i {
			return Result{}, fmt.Errorf("bench: Square(%d) = %d", i, v)
		}
		r.Samples = append(r.Samples, float64(time.Since(t).Nanoseconds())/1e3)
	}
	return r, nil
}

// clusterTasksMP times s.N bursts of s.Items Submits, each burst waited for, in tasks/s.
func clusterTasksMP(ctx context.Context, s Size) (Result, error) {
	p, stop, err := inProcessCluster(ctx, clusterWorkers)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	r := Result{Params: map[string]any{"op": "mp.Submit(ctx, pool, Square, i) ×n, then Wait on each", "cluster": "in-process embedded server, 1 agent of 2 slots", "items": s.Items}}
	futs := make([]*mp.Future[int], s.Items)
	for range s.N {
		t := time.Now()
		for i := range futs {
			futs[i] = mp.Submit(ctx, p, Square, i)
		}
		for i, f := range futs {
			v, err := f.Wait(ctx)
			if err != nil {
				return Result{}, err
			}
			if v != i*i {
				return Result{}, fmt.Errorf("bench: Square(%d) = %d", i, v)
			}
		}
		r.Samples = append(r.Samples, float64(s.Items)/time.Since(t).Seconds())
	}
	return r, nil
}

// clusterMapMP times s.N Maps of s.Items ints with default chunking, in items/s.
func clusterMapMP(ctx context.Context, s Size) (Result, error) {
	p, stop, err := inProcessCluster(ctx, clusterWorkers)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	return mapSamples(ctx, p, s, "mp.Map(ctx, mpnats pool (in-process server, 1 agent of 2 slots), Square, 0..n-1), default chunking")
}

// clusterCPUMP times s.N batches of s.Items SpinCPU tasks on agents agent processes of one slot
// each (NewLocalPool: loopback server), in tasks/s.
func clusterCPUMP(agents int) func(ctx context.Context, s Size) (Result, error) {
	return func(ctx context.Context, s Size) (Result, error) {
		lp, err := mpnats.NewLocalPool(ctx, "bench-cpu", agents, 1)
		if err != nil {
			return Result{}, err
		}
		defer lp.Close()
		if err := warm(ctx, lp, agents); err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":      "mp.Submit(ctx, pool, SpinCPU, i) ×n (10 ms of thread CPU each), then Wait on each",
			"cluster": fmt.Sprintf("NewLocalPool: loopback server, %d agent processes of 1 slot", agents),
			"items":   s.Items, "task_cpu_ms": taskCPU.Milliseconds()}}
		futs := make([]*mp.Future[int], s.Items)
		for range s.N {
			t := time.Now()
			for i := range futs {
				futs[i] = mp.Submit(ctx, lp, SpinCPU, SpinArg{X: i, CPU: taskCPU})
			}
			for i, f := range futs {
				if v, err := f.Wait(ctx); err != nil || v != i {
					return Result{}, fmt.Errorf("bench: SpinCPU %d: %d, %v", i, v, err)
				}
			}
			r.Samples = append(r.Samples, float64(s.Items)/time.Since(t).Seconds())
		}
		return r, nil
	}
}
