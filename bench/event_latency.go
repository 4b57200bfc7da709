//go:build unix

package bench

import (
	"context"
	"fmt"
	"time"
)

const (
	// eventWarmup is how many round trips event_latency runs unmeasured first, mp and floor
	// alike (Python too).
	eventWarmup = 200
	// eventSpin is how many loads of the shared word the spinning floor makes before FUTEX_WAIT.
	eventSpin = 20000
)

// eventLatency is the wake-up of one process by another through an Event.
var eventLatency = &Workload{
	Name:         "event_latency",
	What:         "two mp.Events between the parent and a child: Set go, the child Waits, Clears it and Sets back; half of each timed round trip",
	Unit:         "µs",
	Kind:         Latency,
	Samples:      5000,
	QuickSamples: 200,
	MP: func(ctx context.Context, s Size) (Result, error) {
		rts, err := EventPingPong(ctx, s.N, eventWarmup)
		if err != nil {
			return Result{}, err
		}
		r := Result{Params: map[string]any{
			"op":     "go, back := mp.NewEvent(), mp.NewEvent(); a child running EventEcho; go.Set() + back.Wait(ctx) timed, back.Clear() after; a sample is half the round trip (Set in one process to Wait returning in the other, and a Clear)",
			"warmup": eventWarmup,
		}}
		for _, d := range rts {
			r.Samples = append(r.Samples, us(d)/2)
			r.addExtra("round_trip_us", us(d))
		}
		return r, nil
	},
	Floor: futexFloor(func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		var rts [2][]time.Duration
		for i, spin := range []int{0, eventSpin} {
			var err error
			if rts[i], err = fl.EventPingPong(ctx, s.N, eventWarmup, spin); err != nil {
				return Result{}, fmt.Errorf("spin %d: %w", spin, err)
			}
		}
		r := Result{Params: map[string]any{
			"op":      "trivial futex-echo on a memfd page: the parent stores 2i+1 in a shared word and FUTEX_WAITs until the child has stored 2i+2; each side FUTEX_WAKEs the other only when it sleeps; both on a locked OS thread; half of each round trip",
			"spin_op": fmt.Sprintf("the same with %d loads of the word before FUTEX_WAIT on both sides", eventSpin),
			"warmup":  eventWarmup,
		}}
		for i := range rts[0] {
			r.Samples = append(r.Samples, us(rts[0][i])/2)
			r.addExtra("round_trip_us", us(rts[0][i]))
			r.addExtra("spin_us", us(rts[1][i])/2)
		}
		return r, nil
	}),
	FloorAlt:      "spin_us",
	FloorAltLabel: "spin first",
	Python:        []string{"fork"},
	Targets:       []Target{{Floor: 2}},
}
