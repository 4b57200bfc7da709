//go:build unix

package mp_test

import (
	"context"
	"testing"

	"github.com/mp-go/mp"
)

// The benchmarks of this file measure the sync types' own cost, between goroutines of one
// process: the same atomic operations and futex calls as between processes, without a child's
// start. bench/ measures them across processes.

// BenchmarkSemaphore is one Acquire + Release of one permit, with no one waiting.
func BenchmarkSemaphore(b *testing.B) {
	ctx := context.Background()
	s := must(mp.NewSemaphore(1))
	defer s.Close()
	for b.Loop() {
		if err := s.Acquire(ctx, 1); err != nil {
			b.Fatal(err)
		}
		s.Release(1)
	}
}

// BenchmarkValueAdd is one Value.Add.
func BenchmarkValueAdd(b *testing.B) {
	v := must(mp.NewValue[int64](0))
	defer v.Close()
	for b.Loop() {
		v.Add(1)
	}
}

// BenchmarkCondPingPong is one round trip between two goroutines that take turns under a Cond:
// each sets whose turn it is, Signals, and Waits for its own turn.
func BenchmarkCondPingPong(b *testing.B) {
	ctx := context.Background()
	m := must(mp.NewMutex())
	defer m.Close()
	c := must(mp.NewCond(m))
	defer c.Close()
	turn := must(mp.NewValue[int64](0))
	defer turn.Close()
	n := b.N
	done := make(chan error, 1)
	// player waits for its turn (me), then hands it to the other, n times.
	player := func(me int64) error {
		if err := m.Lock(ctx); err != nil {
			return err
		}
		defer m.Unlock()
		for range n {
			for turn.Load() != me {
				if err := c.Wait(ctx); err != nil {
					return err
				}
			}
			turn.Store(1 - me)
			c.Signal()
		}
		return nil
	}
	b.ResetTimer()
	go func() { done <- player(1) }()
	if err := player(0); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBarrier is one round of a two-party Barrier between two goroutines.
func BenchmarkBarrier(b *testing.B) {
	ctx := context.Background()
	br := must(mp.NewBarrier(2))
	defer br.Close()
	n := b.N
	done := make(chan error, 1)
	go func() {
		for range n {
			if _, err := br.Wait(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.ResetTimer()
	for range n {
		if _, err := br.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
