//go:build unix

package mp_test

import (
	"context"
	"testing"

	"github.com/mp-go/mp"
)

// IntsArg tells a producer child how many ints to put.
type IntsArg struct {
	Q *mp.Queue[int]
	N int
}

// BytesArg tells a producer child how many byte slices of what size to put.
type BytesArg struct {
	Q    *mp.Queue[[]byte]
	N    int
	Size int
}

var (
	ProduceInts = mp.Register("bench.produce_ints", func(ctx context.Context, a IntsArg) (struct{}, error) {
		for i := range a.N {
			if err := a.Q.Put(ctx, i); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	ProduceBytes = mp.Register("bench.produce_bytes", func(ctx context.Context, a BytesArg) (struct{}, error) {
		b := make([]byte, a.Size)
		for range a.N {
			if err := a.Q.Put(ctx, b); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
)

// BenchmarkQueueInts: a producer process puts b.N ints, this process gets them.
func BenchmarkQueueInts(b *testing.B) {
	ctx := context.Background()
	q, err := mp.NewQueue[int](0)
	if err != nil {
		b.Fatal(err)
	}
	p := mp.NewProcess(ProduceInts, IntsArg{Q: q, N: b.N})
	b.ResetTimer()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := q.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := p.Wait(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkQueue1KiB: the same with 1 KiB byte slices.
func BenchmarkQueue1KiB(b *testing.B) {
	ctx := context.Background()
	q, err := mp.NewQueue[[]byte](0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1024)
	p := mp.NewProcess(ProduceBytes, BytesArg{Q: q, N: b.N, Size: 1024})
	b.ResetTimer()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		if _, err := q.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := p.Wait(ctx); err != nil {
		b.Fatal(err)
	}
}
