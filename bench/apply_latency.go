//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/mp-go/mp"
)

// applyWarmup is how many Applies (and floor round trips) run unmeasured first.
const applyWarmup = 200

// applyLatency is workload c: one call's round trip on a warm pool.
var applyLatency = &Workload{
	Name:         "apply_latency",
	What:         "mp.Apply of a no-op on a warm 1-worker pool, each call timed",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      5000,
	QuickSamples: 200,
	MP: func(ctx context.Context, s Size) (Result, error) {
		p, err := StartPool(ctx, 1)
		if err != nil {
			return Result{}, err
		}
		defer p.Close()
		r := Result{Params: map[string]any{
			"op": "mp.Apply(ctx, Pool(1), Empty, struct{}{})", "workers": 1, "warmup": applyWarmup,
		}}
		for i := -applyWarmup; i < s.N; i++ {
			t0 := time.Now()
			if _, err := mp.Apply(ctx, p, Empty, struct{}{}); err != nil {
				return Result{}, err
			}
			if i >= 0 {
				r.Samples = append(r.Samples, us(time.Since(t0)))
			}
		}
		return r, nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		var rts [3][]time.Duration
		for i, mode := range []PingPongMode{PipeRaw, PipeOS, SocketOS} {
			var err error
			if rts[i], err = fl.PingPong(ctx, s.N, applyWarmup, mode); err != nil {
				return Result{}, fmt.Errorf("%v: %w", mode, err)
			}
		}
		r := Result{Params: map[string]any{
			"op":               "1-byte ping-pong with trivial echo over two pipes: blocking read(2)/write(2) on both sides",
			"os_file_op":       "the same with trivial echo-os: *os.File on non-blocking pipes and the runtime's poller, both sides",
			"socketpair_os_op": "the same with trivial echo-os over one unix socketpair (mp's control transport), *os.File on the poller, both sides",
			"warmup":           applyWarmup,
		}}
		for i := range rts[0] {
			r.Samples = append(r.Samples, us(rts[0][i]))
			r.addExtra("os_file_us", us(rts[1][i]))
			r.addExtra("socketpair_os_us", us(rts[2][i]))
		}
		return r, nil
	},
	FloorAlt:      "os_file_us",
	FloorAltLabel: "os.File",
	Python:        []string{"fork"},
	Targets:       []Target{{Floor: 3}, {Python: "fork", Ratio: 5}},
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
