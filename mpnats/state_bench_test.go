package mpnats

import (
	"context"
	"testing"
)

// In-process cluster (no network): the cost of the JetStream round trips themselves.

func benchCluster(b *testing.B) (context.Context, *Cluster) {
	ctx := context.Background()
	c, err := Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return ctx, c
}

// BenchmarkQueuePutGet is one Put and one Get of a small value.
func BenchmarkQueuePutGet(b *testing.B) {
	ctx, c := benchCluster(b)
	q, err := NewQueue[int](ctx, c, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	for i := 0; b.Loop(); i++ {
		if err := q.Put(ctx, i); err != nil {
			b.Fatal(err)
		}
		if _, err := q.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDictUpdate is one Update (a read and a compare-and-swap) without contention.
func BenchmarkDictUpdate(b *testing.B) {
	ctx, c := benchCluster(b)
	d, err := NewDict[string, int](ctx, c, "bench")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Update(ctx, d, "n", incr, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMutexLockUnlock is one Lock and Unlock of a free mutex.
func BenchmarkMutexLockUnlock(b *testing.B) {
	ctx, c := benchCluster(b)
	m, err := NewMutex(ctx, c, "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for b.Loop() {
		if err := m.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Unlock(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
