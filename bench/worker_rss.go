//go:build unix

package bench

import (
	"context"
	"time"
)

// poolSettle is how long an idle pool is left alone before its workers' memory is read.
const poolSettle = 200 * time.Millisecond

// workerRSS is workload l: the memory of an idle pool worker.
var workerRSS = &Workload{
	Name:         "worker_rss",
	What:         "resident memory of each worker of an idle 2-worker pool",
	Unit:         "MiB",
	Kind:         Memory,
	Samples:      10,
	QuickSamples: 2,
	MP: func(ctx context.Context, s Size) (Result, error) {
		// Pools one after the other, two workers alive at a time, as in Python's Pool(2); s.N
		// is rounded up to whole pools.
		var all Result
		for got := 0; got < s.N; {
			p, err := StartPool(ctx, poolWorkers)
			if err != nil {
				return Result{}, err
			}
			_, err = MapSquares(ctx, p, Ints(100))
			var r Result
			if err == nil {
				r, err = readIdleAfter(ctx, poolSettle, p.Pids(), map[string]any{
					"op": "NewPool(WithWorkers(2)), a Map of 100 squares, idle, then p.Pids()",
				})
			}
			p.Close()
			if err != nil {
				return Result{}, err
			}
			got += len(r.Samples)
			all.merge(r)
		}
		return all, nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		var all Result
		for got := 0; got < s.N; got += poolWorkers {
			r, err := idleRSS.Floor(ctx, fl, Size{N: min(poolWorkers, s.N-got)})
			if err != nil {
				return Result{}, err
			}
			all.merge(r)
		}
		return all, nil
	},
	Python:  []string{"fork", "spawn"},
	Targets: []Target{{Max: 5}},
}
