//go:build unix

package bench

import "context"

// executorSubmit is workload e: a burst of Submits, then every future waited for.
var executorSubmit = &Workload{
	Name:         "executor_submit",
	What:         "mp.Submit of Items no-op calls to a warm 2-worker pool, then Wait on every future",
	Unit:         "tasks/s",
	Kind:         Throughput,
	Samples:      10,
	QuickSamples: 2,
	Items:        100_000,
	QuickItems:   2_000,
	MP: func(ctx context.Context, s Size) (Result, error) {
		p, err := StartPool(ctx, poolWorkers)
		if err != nil {
			return Result{}, err
		}
		defer p.Close()
		if _, _, err := SubmitEmpties(ctx, p, max(1, s.Items/10)); err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op": "Submit(ctx, Pool(2), Empty) ×n, then Wait on each", "items": s.Items, "workers": poolWorkers,
			"timed": "the submissions and the waits; pool start and warm-up (a tenth of the items) excluded",
		}}
		for range s.N {
			submit, total, err := SubmitEmpties(ctx, p, s.Items)
			if err != nil {
				return Result{}, err
			}
			r.Samples = append(r.Samples, rate(s.Items, total))
			r.addExtra("submit_tasks_per_s", rate(s.Items, submit))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 20}},
}
