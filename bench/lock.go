//go:build unix

package bench

import (
	"context"

	"github.com/mp-go/mp"
)

// lockWarmup is how many Lock+Unlock pairs lock_uncontended runs unmeasured first, mp and floor
// alike (Python too).
const lockWarmup = 1000

// lockUncontended is workload j (uncontended): the fast path of a lock shared by processes.
var lockUncontended = &Workload{
	Name:         "lock_uncontended",
	What:         "Lock + Unlock of an mp.Mutex in one process, Items pairs a sample; ns per pair",
	Unit:         "ns",
	Kind:         Latency,
	Samples:      20,
	QuickSamples: 5,
	Items:        1_000_000,
	QuickItems:   100_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		m, err := mp.NewMutex()
		if err != nil {
			return Result{}, err
		}
		defer m.Close()
		if _, err := LockPairs(ctx, m, lockWarmup); err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op": "m, _ := mp.NewMutex(); m.Lock(ctx) + m.Unlock(), Items times a sample", "items": s.Items, "warmup": lockWarmup,
		}}
		for range s.N {
			took, err := LockPairs(ctx, m, s.Items)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, float64(took.Nanoseconds())/float64(s.Items))
		}
		return r, nil
	},
	Floor: futexFloor(func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		r := Result{Params: map[string]any{
			"op":    "a futex mutex on a word of a memfd page mapped MAP_SHARED, in this process: compare-and-swap 0→1 to lock, swap to 0 to unlock (no system call uncontended), Items times a sample",
			"items": s.Items, "warmup": lockWarmup,
		}}
		for range s.N {
			took, err := LockUncontended(s.Items)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, float64(took.Nanoseconds())/float64(s.Items))
		}
		return r, nil
	}),
	Python:  []string{"fork"},
	Targets: []Target{{Max: 15}, {Python: "fork", Ratio: 3}},
}

// lockContention is workload j (contended): two processes taking turns at a lock.
var lockContention = &Workload{
	Name:         "lock_contention",
	What:         "two processes each add 1 to a shared counter Items times under one mp.Mutex; ops/s of both",
	Unit:         "ops/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        500_000,
	QuickItems:   20_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		r := Result{Params: map[string]any{
			"op":        "mp.NewMutex() and mp.NewArray[int64](1); two children each Items times: Lock(ctx), c[0]++ on Slice() (a plain read-modify-write), Unlock(); the count checked to be 2×Items",
			"items":     s.Items,
			"processes": 2,
			"timed":     "from Set of the go event both children wait on to both children's done messages; the children's starts excluded",
		}}
		for range s.N {
			took, err := LockContention(ctx, s.Items)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, rate(2*s.Items, took))
		}
		return r, nil
	},
	Floor: futexFloor(func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		r := Result{Params: map[string]any{
			"op":        "two trivial lock-inc children on one memfd page: Items times each, a futex mutex (compare-and-swap, 100 loads of spin, then FUTEX_WAIT) around a plain counter++; the count checked",
			"items":     s.Items,
			"processes": 2,
			"timed":     "from the store (and FUTEX_WAKE) of the go word to both children's done bytes",
		}}
		for range s.N {
			took, err := fl.LockContention(ctx, s.Items)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, rate(2*s.Items, took))
		}
		return r, nil
	}),
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 10}},
}

// futexFloor returns f where the futex floors run (Linux), and nil, no floor, elsewhere.
func futexFloor(f func(ctx context.Context, fl *Floor, s Size) (Result, error)) func(ctx context.Context, fl *Floor, s Size) (Result, error) {
	if !haveFutexFloors {
		return nil
	}
	return f
}
