//go:build unix

package bench

import (
	"context"
	"time"
)

// warmup is how many operations each timed workload runs, unmeasured, before its samples: the
// first ones pay for the page cache and for this package's lazy set-up.
const warmup = 3

// spawnJoin is workload a: the cost of a process, start to end.
var spawnJoin = &Workload{
	Name:         "spawn_join",
	What:         "start a process running an empty function and wait for it to end",
	Unit:         "ms",
	Kind:         Latency,
	Samples:      200,
	QuickSamples: 20,
	MP: func(ctx context.Context, s Size) (Result, error) {
		n := s.N
		r := Result{Params: map[string]any{"op": "mp.NewProcess(Empty).Start + Wait"}}
		for i := -warmup; i < n; i++ {
			start, total, err := StartWait(ctx)
			if err != nil {
				return Result{}, err
			}
			if i >= 0 {
				r.Samples = append(r.Samples, ms(total))
				r.addExtra("start_ms", ms(start))
				r.addExtra("wait_ms", ms(total-start))
			}
		}
		return r, nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		n := s.N
		return timeOps(ctx, n, fl.Run, map[string]any{"op": "exec.Command(trivial).Run()"})
	},
	Python:  []string{"spawn", "fork"},
	Targets: []Target{{Max: 2}, {Python: "spawn", Ratio: 20}, {Python: "fork", Ratio: 1}},
}

// timeOps times n calls of op, after warm-up, in milliseconds.
func timeOps(ctx context.Context, n int, op func(context.Context) error, params map[string]any) (Result, error) {
	r := Result{Params: params}
	for i := -warmup; i < n; i++ {
		t0 := time.Now()
		if err := op(ctx); err != nil {
			return Result{}, err
		}
		if i >= 0 {
			r.Samples = append(r.Samples, ms(time.Since(t0)))
		}
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
