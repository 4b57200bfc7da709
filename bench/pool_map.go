//go:build unix

package bench

import (
	"context"
	"time"

	"github.com/mp-go/mp"
)

// poolWorkers is the size of the pools of the throughput workloads, as in the issue: Python's
// Pool(2).
const poolWorkers = 2

// poolMapTiny is workload b: many tiny tasks through Map with its default chunking.
var poolMapTiny = &Workload{
	Name:         "pool_map_tiny",
	What:         "mp.Map of Square over Items ints on a warm 2-worker pool, default chunking",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        1_000_000,
	QuickItems:   50_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		return poolMap(ctx, s, "mp.Map(ctx, Pool(2), Square, 0..n-1)")
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 5}},
}

// poolMapChunk1 is workload b with chunk size 1: every item is a task of its own, so the figure
// is the pool's cost per task.
var poolMapChunk1 = &Workload{
	Name:         "pool_map_chunk1",
	What:         "mp.Map of Square over Items ints on a warm 2-worker pool, WithChunkSize(1)",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        100_000,
	QuickItems:   2_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		return poolMap(ctx, s, "mp.Map(ctx, Pool(2), Square, 0..n-1, mp.WithChunkSize(1))", mp.WithChunkSize(1))
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 10}},
}

// goroutinePoolMapChunk1 is pool_map_chunk1 on goroutines: mp.GoroutinePool against Python's
// ThreadPool, the cost per task of the in-process executor.
var goroutinePoolMapChunk1 = &Workload{
	Name:         "goroutine_pool_map_chunk1",
	What:         "mp.Map of Square over Items ints on a warm 2-goroutine GoroutinePool, WithChunkSize(1); Python: ThreadPool(2)",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        100_000,
	QuickItems:   2_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		p, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(poolWorkers))
		if err != nil {
			return Result{}, err
		}
		defer p.Close()
		return mapSamples(ctx, p, s, "mp.Map(ctx, GoroutinePool(2), Square, 0..n-1, mp.WithChunkSize(1))", mp.WithChunkSize(1))
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 5}},
}

// poolMap starts a pool (not timed), maps a tenth of the items once to warm it up, then times
// s.N Maps of s.Items items, a sample each, in tasks per second.
func poolMap(ctx context.Context, s Size, op string, opts ...mp.CallOption) (Result, error) {
	p, err := StartPool(ctx, poolWorkers)
	if err != nil {
		return Result{}, err
	}
	defer p.Close()
	return mapSamples(ctx, p, s, op, opts...)
}

// mapSamples maps a tenth of the items once on ex to warm it up, then times s.N Maps of s.Items
// items, a sample each, in tasks per second.
func mapSamples(ctx context.Context, p mp.Executor, s Size, op string, opts ...mp.CallOption) (Result, error) {
	xs := Ints(s.Items)
	if _, err := MapSquares(ctx, p, xs[:max(1, len(xs)/10)], opts...); err != nil {
		return Result{}, err
	}
	r := Result{Params: map[string]any{
		"op": op, "items": s.Items, "workers": poolWorkers,
		"timed": "the Map call alone; pool start and warm-up (a Map of a tenth of the items) excluded",
	}}
	for range s.N {
		took, err := MapSquares(ctx, p, xs, opts...)
		if err != nil {
			return Result{}, err
		}
		r.Samples = append(r.Samples, rate(s.Items, took))
	}
	return r, nil
}

// rate returns n tasks in d as tasks per second.
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
