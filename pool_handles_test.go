//go:build unix

package mp_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"testing"

	"github.com/mp-go/mp"
)

// workerQueue is set in each pool worker by its initializer: the pattern of Python's
// Pool(initializer=init, initargs=(queue,)).
var workerQueue *mp.Queue[int]

// ReportArg asks a worker to put its pid (and a number) on a queue it is handed.
type ReportArg struct {
	Q *mp.Queue[int]
	N int
}

var (
	InitQueue = mp.Register("test.init_queue", func(ctx context.Context, q *mp.Queue[int]) (struct{}, error) {
		workerQueue = q
		return struct{}{}, nil
	})
	PutViaInit = mp.Register("test.put_via_init", func(ctx context.Context, n int) (struct{}, error) {
		return struct{}{}, workerQueue.Put(ctx, n)
	})
	PutViaArg = mp.Register("test.put_via_arg", func(ctx context.Context, a ReportArg) (int, error) {
		return a.N, a.Q.Put(ctx, a.N*10)
	})
	CountOnConn = mp.Register("test.count_on_conn", func(ctx context.Context, c *mp.Conn[int]) (int, error) {
		defer c.Close()
		return os.Getpid(), c.Send(ctx, os.Getpid())
	})
)

func TestPoolInitializerQueue(t *testing.T) {
	ctx := ctxT(t)
	q, _ := mp.NewQueue[int](0)
	p, err := mp.NewPool(ctx, mp.WithWorkers(2), mp.WithInitializer(InitQueue, q), mp.WithMaxTasksPerWorker(3))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Ten tasks with at most three per worker: replacement workers get the queue too.
	var futs []mp.Doner
	for i := range 10 {
		futs = append(futs, mp.Submit(ctx, p, PutViaInit, i))
	}
	if err := mp.WaitAll(ctx, futs...); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 10 {
		v, err := q.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	sort.Ints(got)
	for i, v := range got {
		if v != i {
			t.Fatalf("values from workers: %v", got)
		}
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPoolHandlesInArguments(t *testing.T) {
	ctx := ctxT(t)
	q, _ := mp.NewQueue[int](0)
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Apply, Submit and Map, each with a queue in the argument.
	if n, err := mp.Apply(ctx, p, PutViaArg, ReportArg{Q: q, N: 1}); err != nil || n != 1 {
		t.Fatalf("Apply = %d, %v", n, err)
	}
	if n, err := mp.Submit(ctx, p, PutViaArg, ReportArg{Q: q, N: 2}).Wait(ctx); err != nil || n != 2 {
		t.Fatalf("Submit = %d, %v", n, err)
	}
	var args []ReportArg
	for i := range 20 {
		args = append(args, ReportArg{Q: q, N: 100 + i})
	}
	rs, err := mp.Map(ctx, p, PutViaArg, args, mp.WithChunkSize(3))
	if err != nil || len(rs) != 20 || rs[19] != 119 {
		t.Fatalf("Map = %v, %v", rs, err)
	}
	if q.Len() != 22 {
		t.Fatalf("queue holds %d values; want 22", q.Len())
	}
	// A Conn per call.
	for range 3 {
		mine, theirs, _ := mp.Pipe[int]()
		fut := mp.Submit(ctx, p, CountOnConn, theirs)
		theirs.Close()
		pid, err := mine.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := fut.Wait(ctx); err != nil || r != pid {
			t.Fatalf("worker answered %d on the conn and %d, %v as its result", pid, r, err)
		}
		mine.Close()
	}
	// A closed handle fails the call at Submit, and the pool goes on.
	closed, _, _ := mp.Pipe[int]()
	closed.Close()
	if _, err := mp.Submit(ctx, p, CountOnConn, closed).Wait(ctx); !errors.Is(err, mp.ErrClosed) && !errors.Is(err, mp.ErrEncode) {
		t.Fatalf("Submit with a closed Conn: %v", err)
	}
	if n, err := mp.Apply(ctx, p, PutViaArg, ReportArg{Q: q, N: 3}); err != nil || n != 3 {
		t.Fatalf("Apply after a failed Submit = %d, %v", n, err)
	}
}

// TestPoolSyncHandles hands a mutex and a shared counter to pool workers in Map items.
func TestPoolSyncHandles(t *testing.T) {
	ctx := ctxT(t)
	m, _ := mp.NewMutex()
	v, _ := mp.NewValue[int64](0)
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	args := make([]CounterArg, 8)
	for i := range args {
		args[i] = CounterArg{M: m, V: v, N: 500}
	}
	if _, err := mp.Map(ctx, p, CountUnderLock, args, mp.WithChunkSize(2)); err != nil {
		t.Fatal(err)
	}
	if got := v.Load(); got != 8*500 {
		t.Fatalf("counter = %d; want %d", got, 8*500)
	}
}
