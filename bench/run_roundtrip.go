//go:build unix

package bench

import (
	"context"
	"fmt"
)

// runRoundtrip is workload b: a fresh process per call, with the result coming back.
var runRoundtrip = &Workload{
	Name:         "run_roundtrip",
	What:         "run Square(7) in a fresh process and get 49 back",
	Unit:         "ms",
	Kind:         Latency,
	Samples:      200,
	QuickSamples: 20,
	MP: func(ctx context.Context, s Size) (Result, error) {
		n := s.N
		return timeOps(ctx, n, RunSquare, map[string]any{"op": "mp.Run(ctx, Square, 7)"})
	},
	Floor: func(ctx context.Context, fl *Floor, s Size) (Result, error) {
		n := s.N
		return timeOps(ctx, n, func(ctx context.Context) error {
			v, err := fl.Square(ctx, 7)
			if err == nil && v != 49 {
				err = fmt.Errorf("bench: trivial square 7 = %d, want 49", v)
			}
			return err
		}, map[string]any{"op": "exec.Command(trivial, \"square\", \"7\").Output()"})
	},
	Python: []string{"spawn", "fork"},
}
