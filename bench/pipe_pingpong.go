//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"
)

// pingPongWarmup is how many round trips pipe_pingpong runs unmeasured first, mp and floor alike.
const pingPongWarmup = 200

// pipePingPong is workload g: one small message's round trip through a Pipe.
var pipePingPong = &Workload{
	Name:         "pipe_pingpong",
	What:         "mp.Pipe[int]() (duplex): Send(1) to a child that echoes it, Recv; each round trip timed",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      5000,
	QuickSamples: 200,
	MP: func(ctx context.Context, s Size) (Result, error) {
		rts, err := PingPong(ctx, s.N, pingPongWarmup)
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":     "a, b := mp.Pipe[int](); b to a child running Echo; a.Send(ctx, 1) + a.Recv(ctx)",
			"warmup": pingPongWarmup,
		}}
		for _, d := range rts {
			r.Samples = append(r.Samples, us(d))
		}
		return r, nil
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		var rts [2][]time.Duration
		for i, mode := range []PingPongMode{SocketRaw, SocketOS} {
			var err error
			if rts[i], err = fl.PingPong(ctx, s.N, pingPongWarmup, mode); err != nil {
				return Result{}, fmt.Errorf("%v: %w", mode, err)
			}
		}
		r := Result{Params: map[string]any{
			"op":         "1-byte ping-pong with trivial echo over one blocking unix socketpair: raw read(2)/write(2) on both sides",
			"os_file_op": "the same with trivial echo-os: *os.File on the non-blocking socketpair and the runtime's poller, both sides",
			"warmup":     pingPongWarmup,
		}}
		for i := range rts[0] {
			r.Samples = append(r.Samples, us(rts[0][i]))
			r.addExtra("os_file_us", us(rts[1][i]))
		}
		return r, nil
	},
	FloorAlt:      "os_file_us",
	FloorAltLabel: "os.File",
	Python:        []string{"fork"},
	Targets:       []Target{{Floor: 2}, {Python: "fork", Ratio: 3}},
}
