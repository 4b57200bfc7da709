//go:build unix

package mpnats_test

// Run the benchmarks as
//
//	go test -run '^$' -bench 'SubmitResult|OneItemTasks' -benchtime 3000x ./mpnats
//	go test -run '^$' -bench MapTiny -benchtime 3x ./mpnats
//
// (MapTiny maps a million items per iteration: give it a few iterations, not thousands.)

import (
	"slices"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// Submit → result on the in-process
// cluster (one agent, two slots), one call at a time: the p50 and p99 of the round trip.
func BenchmarkSubmitResult(b *testing.B) {
	ctx := ctxT(b)
	_, p := inProcessB(b, 2)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if _, err := mp.Apply(ctx, p, Square, i); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(s))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// One-item tasks submitted together (Submit, then Wait on each): tasks per second, on an agent
// of 2 slots and of 8 (a slot's tasks run one after another, each a round trip of its own).
func BenchmarkOneItemTasks(b *testing.B) {
	b.Run("slots=2", func(b *testing.B) { benchOneItem(b, 2) })
	b.Run("slots=8", func(b *testing.B) { benchOneItem(b, 8) })
}

func benchOneItem(b *testing.B, slots int) {
	ctx := ctxT(b)
	_, p := inProcessB(b, slots)
	b.ResetTimer()
	s := time.Now()
	futs := make([]*mp.Future[int], b.N)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Square, i)
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(s).Seconds(), "tasks/s")
}

// mp.Map of 1,000,000 tiny items with default chunking: items per second.
func BenchmarkMapTiny(b *testing.B) {
	ctx := ctxT(b)
	_, p := inProcessB(b, 2)
	xs := make([]int, 1_000_000)
	for i := range xs {
		xs[i] = i
	}
	b.ResetTimer()
	s := time.Now()
	for range b.N {
		got, err := mp.Map(ctx, p, Square, xs)
		if err != nil || len(got) != len(xs) || got[999] != 999*999 {
			b.Fatalf("%d results, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.N*len(xs))/time.Since(s).Seconds(), "items/s")
}
