//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-go/mp"
)

// managerDictWarmup is how many Sets and Gets manager_dict_ops runs unmeasured first, mp and
// Python alike.
const managerDictWarmup = 200

// DictOpsJob is what ManagerDictOps gets: the dict, and how many Sets, then Gets, to time.
type DictOpsJob struct {
	D      *mp.Dict[string, string]
	N      int
	Warmup int
}

// ManagerDictOps runs, in a child, j.N Sets of 16-byte strings under N keys, then j.N Gets of
// them (Python's d[k] = "v"*16 and d[k]), after j.Warmup of each, and returns each op's time.
var ManagerDictOps = mp.Register("bench.manager_dict_ops", func(ctx context.Context, j DictOpsJob) ([]time.Duration, error) {
	const val = "vvvvvvvvvvvvvvvv"
	keys := make([]string, j.N)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	for i := range j.Warmup {
		if err := j.D.Set(ctx, "warm", val); err != nil {
			return nil, err
		}
		if _, _, err := j.D.Get(ctx, keys[i%len(keys)]); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, 2*j.N)
	for _, k := range keys {
		t0 := time.Now()
		if err := j.D.Set(ctx, k, val); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	for _, k := range keys {
		t0 := time.Now()
		v, ok, err := j.D.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
		if !ok || v != val {
			return nil, fmt.Errorf("manager_dict_ops: d[%q] = %q, %t", k, v, ok)
		}
	}
	return out, nil
})

// managerDictOps is the manager's dict from another process: Python's Manager().dict().
var managerDictOps = &Workload{
	Name:         "manager_dict_ops",
	What:         "a child sets then gets 16-byte strings in an mp.Dict of an mp.StartManager manager; each op timed (N/2 of each)",
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
		d, err := mp.NewDict[string, string](ctx, m)
		if err != nil {
			return Result{}, err
		}
		defer d.Close()
		ops, err := mp.Run(ctx, ManagerDictOps, DictOpsJob{D: d, N: s.N / 2, Warmup: managerDictWarmup})
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":        "m, _ := mp.StartManager(ctx); d, _ := mp.NewDict[string, string](ctx, m); in a child: d.Set(ctx, k, 16 bytes) N/2 times, then d.Get(ctx, k) N/2 times",
			"warmup":    managerDictWarmup,
			"transport": "Unix stream socket, one connection per process, CBOR frames with request ids",
		}}
		var sets, gets []float64
		for i, d := range ops {
			r.Samples = append(r.Samples, us(d))
			if i < len(ops)/2 {
				sets = append(sets, us(d))
			} else {
				gets = append(gets, us(d))
			}
		}
		// The medians of each kind go with the parameters: an extra has one value per sample.
		r.Params["set_p50_us"] = Summarize(sets).Median
		r.Params["get_p50_us"] = Summarize(gets).Median
		return r, nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		rts, err := fl.PingPong(ctx, s.N, managerDictWarmup, SocketOS)
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":     "1-byte ping-pong with trivial echo-os over a unix socketpair, *os.File and the runtime's poller on both sides: one round trip of the manager's transport, with no work at either end",
			"warmup": managerDictWarmup,
		}}
		for _, d := range rts {
			r.Samples = append(r.Samples, us(d))
		}
		return r, nil
	},
	Python:  []string{"fork"},
	Targets: []Target{{Python: "fork", Ratio: 5}, {Max: 9}},
}
