//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-go/mp"
)

// IncrementBy adds its argument to the count, in whichever process mp.Update runs it.
var IncrementBy = mp.RegisterUpdate("bench.manager_update.increment", func(ctx context.Context, n int, ok bool, by int) (int, error) {
	return n + by, nil
})

// UpdateOpsJob is what ManagerUpdateOps gets: the dict, and how many Updates to time.
type UpdateOpsJob struct {
	D      *mp.Dict[string, int]
	N      int
	Warmup int
}

// ManagerUpdateOps runs, in a child, j.N mp.Updates of d["n"] (+1), after j.Warmup, and returns
// each one's time.
var ManagerUpdateOps = mp.Register("bench.manager_update_ops", func(ctx context.Context, j UpdateOpsJob) ([]time.Duration, error) {
	for range j.Warmup {
		if _, err := mp.Update(ctx, j.D, "n", IncrementBy, 1); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, j.N)
	for range j.N {
		t0 := time.Now()
		if _, err := mp.Update(ctx, j.D, "n", IncrementBy, 1); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
})

// managerUpdate is an atomic read-modify-write of a manager's dict from another process:
// Python's `with lock: d[k] = d[k] + 1` with a Manager().Lock(), since Python has no Update.
var managerUpdate = &Workload{
	Name:         "manager_update",
	What:         "a child adds 1 to d[\"n\"] atomically: mp.Update with a registered function; Python: with m.Lock(): d[\"n\"] = d[\"n\"] + 1; each op timed",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      10000,
	QuickSamples: 400,
	MP: func(ctx context.Context, s Size) (Result, error) {
		m, err := mp.StartManager(ctx)
		if err != nil {
			return Result{}, err
		}
		defer m.Close()
		d, err := mp.NewDict[string, int](ctx, m)
		if err != nil {
			return Result{}, err
		}
		defer d.Close()
		ops, err := mp.Run(ctx, ManagerUpdateOps, UpdateOpsJob{D: d, N: s.N, Warmup: managerDictWarmup})
		if err != nil {
			return Result{}, err
		}
		if n, _, err := d.Get(ctx, "n"); err != nil || n != s.N+managerDictWarmup {
			return Result{}, fmt.Errorf("manager_update: d[\"n\"] = %d, %v; want %d", n, err, s.N+managerDictWarmup)
		}
		r := Result{Params: map[string]any{
			"op":     "in a child: mp.Update(ctx, d, \"n\", IncrementBy, 1), N times",
			"warmup": managerDictWarmup,
			"path":   "Linux: the dict's shared-memory table, the function run in the caller under the table's robust lock",
		}}
		for _, d := range ops {
			r.Samples = append(r.Samples, us(d))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 5}},
}

// Seed001Decrement takes one off the count.
var Seed001Decrement = mp.RegisterUpdate("bench.manager_seed001.decrement", func(ctx context.Context, n int, ok bool, _ struct{}) (int, error) {
	return n - 1, nil
})

// Seed001Worker is one of seed 001's 50 processes: it takes one off d["count"].
var Seed001Worker = mp.Register("bench.manager_seed001.worker", func(ctx context.Context, d *mp.Dict[string, int]) (struct{}, error) {
	_, err := mp.Update(ctx, d, "count", Seed001Decrement, struct{}{})
	return struct{}{}, err
})

// seed001Procs is how many processes seed 001's program starts.
const seed001Procs = 50

// managerSeed001 is seed 001's program whole (examples/manager_dict, mode update): start a
// manager, make d = {"count": 50}, start 50 processes that each take one off atomically, join
// them, read the dict back (the count must be 0), shut the manager down.
var managerSeed001 = &Workload{
	Name:         "manager_seed001",
	What:         "seed 001 end to end: StartManager, d[\"count\"] = 50, 50 processes each take one off atomically (mp.Update; Python: with m.Lock(): d[\"count\"] -= 1), join, Items, Shutdown",
	Unit:         "ms",
	Kind:         Latency,
	Samples:      10,
	QuickSamples: 3,
	MP: func(ctx context.Context, s Size) (Result, error) {
		r := Result{Params: map[string]any{"processes": seed001Procs}}
		for range s.N {
			t0 := time.Now()
			if err := seed001(ctx); err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, ms(time.Since(t0)))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 1}},
}

func seed001(ctx context.Context) error {
	m, err := mp.StartManager(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	d, err := mp.NewDict[string, int](ctx, m)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Set(ctx, "count", seed001Procs); err != nil {
		return err
	}
	ps := make([]*mp.Process, seed001Procs)
	for i := range ps {
		ps[i] = mp.NewProcess(Seed001Worker, d)
		if err := ps[i].Start(ctx); err != nil {
			return err
		}
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			return err
		}
	}
	items, err := d.Items(ctx)
	if err != nil {
		return err
	}
	if items["count"] != 0 {
		return fmt.Errorf("manager_seed001: final count %d, want 0", items["count"])
	}
	return m.Shutdown(ctx)
}
