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

// PingArg hands a child one end of a pipe to echo on.
type PingArg struct {
	C *mp.Conn[int]
}

// BigArg asks a child to send N messages of Size bytes.
type BigArg struct {
	C    *mp.Conn[int]
	N    int
	Size int
}

var (
	Echo = mp.Register("bench.echo", func(ctx context.Context, a PingArg) (struct{}, error) {
		defer a.C.Close()
		for {
			v, err := a.C.Recv(ctx)
			if err != nil {
				return struct{}{}, nil
			}
			if err := a.C.Send(ctx, v); err != nil {
				return struct{}{}, err
			}
		}
	})
	SendBig = mp.Register("bench.send_big", func(ctx context.Context, a BigArg) (struct{}, error) {
		defer a.C.Close()
		b := make([]byte, a.Size)
		for range a.N {
			if err := a.C.SendBytes(ctx, b); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
)

// BenchmarkPipePingPong: one round trip of a small value to an echoing child.
func BenchmarkPipePingPong(b *testing.B) {
	ctx := context.Background()
	mine, theirs, err := mp.Pipe[int]()
	if err != nil {
		b.Fatal(err)
	}
	p := mp.NewProcess(Echo, PingArg{C: theirs})
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	theirs.Close()
	for i := range 100 {
		mine.Send(ctx, i)
		mine.Recv(ctx)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := mine.Send(ctx, i); err != nil {
			b.Fatal(err)
		}
		if _, err := mine.Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	mine.Close()
	p.Wait(ctx)
}

// BenchmarkPipe64MiB: a child sends 64 MiB messages with SendBytes; this process receives them.
func BenchmarkPipe64MiB(b *testing.B) {
	ctx := context.Background()
	mine, theirs, err := mp.Pipe[int]()
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	b.SetBytes(size)
	p := mp.NewProcess(SendBig, BigArg{C: theirs, N: b.N, Size: size})
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	theirs.Close()
	for range b.N {
		if _, err := mine.RecvBytes(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	mine.Close()
	p.Wait(ctx)
}
