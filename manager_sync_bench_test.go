//go:build linux || darwin

package mp_test

import (
	"context"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// SyncOpsArg is what MgrSyncOps gets: a managed Mutex and Queue, and how many round trips to
// time.
type SyncOpsArg struct {
	Mu *mp.ManagedMutex
	Q  *mp.ManagedQueue[string]
	N  int
}

// SyncOpsResult is the mean time of an uncontended Lock+Unlock pair and of a Put+Get pair of a
// 16-byte string, in nanoseconds, measured in a child (the manager is a third process).
type SyncOpsResult struct{ LockUnlock, PutGet float64 }

// MgrSyncOps times, in a child, N Lock/Unlock pairs and N Put/Get pairs: Python's
// SyncManager Lock().acquire()/release() and Queue().put()/get() (bench/python's
// manager_sync).
var MgrSyncOps = mp.Register("test.mgr.sync_ops", func(ctx context.Context, a SyncOpsArg) (SyncOpsResult, error) {
	t0 := time.Now()
	for range a.N {
		if err := a.Mu.Lock(ctx); err != nil {
			return SyncOpsResult{}, err
		}
		if err := a.Mu.Unlock(ctx); err != nil {
			return SyncOpsResult{}, err
		}
	}
	lock := float64(time.Since(t0).Nanoseconds()) / float64(a.N)
	t0 = time.Now()
	for range a.N {
		if err := a.Q.Put(ctx, "vvvvvvvvvvvvvvvv"); err != nil {
			return SyncOpsResult{}, err
		}
		if _, err := a.Q.Get(ctx); err != nil {
			return SyncOpsResult{}, err
		}
	}
	return SyncOpsResult{LockUnlock: lock, PutGet: float64(time.Since(t0).Nanoseconds()) / float64(a.N)}, nil
})

// BenchmarkManagedSync: uncontended round trips to managed objects, from this process (the
// manager is another one) and from a child: a Lock and Unlock pair, a Put and Get pair, and a
// handoff, where a Get waits in the manager until another goroutine's Put wakes it.
func BenchmarkManagedSync(b *testing.B) {
	ctx := context.Background()
	m, err := mp.StartManager(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	mu, err := mp.NewManagedMutex(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	q, err := mp.NewManagedQueue[string](ctx, m, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("LockUnlock", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := mu.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			if err := mu.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutGet", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := q.Put(ctx, "vvvvvvvvvvvvvvvv"); err != nil {
				b.Fatal(err)
			}
			if _, err := q.Get(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("WaitingGet", func(b *testing.B) {
		// Get waits in the manager (the queue is empty) until the Put of another goroutine of
		// this process, on the same connection, hands it the value.
		b.ReportAllocs()
		n := b.N
		done := make(chan error, 1)
		go func() {
			for range n {
				if _, err := q.Get(ctx); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range n {
			if err := q.Put(ctx, "v"); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
	b.Run("Child", func(b *testing.B) {
		var r SyncOpsResult
		for b.Loop() {
			r, err = mp.Run(ctx, MgrSyncOps, SyncOpsArg{Mu: mu, Q: q, N: 10000})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(r.LockUnlock, "lock-unlock-ns")
		b.ReportMetric(r.PutGet, "put-get-ns")
	})
}
