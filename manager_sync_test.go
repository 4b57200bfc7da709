//go:build linux || darwin

package mp_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// Functions the managed-sync tests run in children.
var (
	// SyncCount adds 1 to a.D["n"] a.N times by an unguarded Get and Set under a.Mu: only mutual
	// exclusion across processes keeps every increment.
	SyncCount = mp.Register("test.msync.count", func(ctx context.Context, a SyncArg) (struct{}, error) {
		for range a.N {
			if err := a.Mu.Lock(ctx); err != nil {
				return struct{}{}, err
			}
			n, _, err := a.D.Get(ctx, "n")
			if err == nil {
				err = a.D.Set(ctx, "n", n+1)
			}
			if uerr := a.Mu.Unlock(ctx); err == nil {
				err = uerr
			}
			if err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	// SyncHold takes what a asks for (a.Mu locked, 2 permits of a.Sem, one value of a.JQ, a
	// wait at a.B), sets a.Ready and waits to be killed.
	SyncHold = mp.Register("test.msync.hold", func(ctx context.Context, a SyncArg) (struct{}, error) {
		if a.Mu != nil {
			if err := a.Mu.Lock(ctx); err != nil {
				return struct{}{}, err
			}
		}
		if a.Sem != nil {
			if err := a.Sem.Acquire(ctx, 2); err != nil {
				return struct{}{}, err
			}
		}
		if a.JQ != nil {
			if _, err := a.JQ.Get(ctx); err != nil {
				return struct{}{}, err
			}
		}
		if a.Ready != nil {
			a.Ready.Set()
		}
		if a.B != nil {
			a.B.Wait(ctx)
		}
		<-ctx.Done()
		return struct{}{}, nil
	})
	// SyncProduce puts a.From .. a.From+a.N-1 on a.Q.
	SyncProduce = mp.Register("test.msync.produce", func(ctx context.Context, a SyncArg) (struct{}, error) {
		for i := range a.N {
			if err := a.Q.Put(ctx, a.From+i); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	// SyncConsume gets from a.Q until it is shut down and returns what it got.
	SyncConsume = mp.Register("test.msync.consume", func(ctx context.Context, a SyncArg) ([]int, error) {
		var got []int
		for {
			v, err := a.Q.Get(ctx)
			if errors.Is(err, mp.ErrClosed) {
				return got, nil
			}
			if err != nil {
				return got, err
			}
			got = append(got, v)
		}
	})
	// SyncWork gets values from a.JQ, adds them to a.D["sum"] and marks each done, until shutdown.
	SyncWork = mp.Register("test.msync.work", func(ctx context.Context, a SyncArg) (struct{}, error) {
		for {
			v, err := a.JQ.Get(ctx)
			if errors.Is(err, mp.ErrClosed) {
				return struct{}{}, nil
			}
			if err != nil {
				return struct{}{}, err
			}
			if _, err := mp.Add(ctx, a.D, "sum", v); err != nil {
				return struct{}{}, err
			}
			if err := a.JQ.TaskDone(ctx); err != nil {
				return struct{}{}, err
			}
		}
	})
	// SyncWaitEvent says it is about to wait on a.Q, then waits for a.E.
	SyncWaitEvent = mp.Register("test.msync.wait_event", func(ctx context.Context, a SyncArg) (struct{}, error) {
		if err := a.Q.Put(ctx, 1); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, a.E.Wait(ctx)
	})
	// SyncBarrier waits at a.B and returns its arrival index.
	SyncBarrier = mp.Register("test.msync.barrier", func(ctx context.Context, a SyncArg) (int, error) {
		return a.B.Wait(ctx)
	})
	// SyncCondWait locks a.Mu, says so on a.Q, and waits on a.C until a.D["go"] is set.
	SyncCondWait = mp.Register("test.msync.cond_wait", func(ctx context.Context, a SyncArg) (int, error) {
		if err := a.Mu.Lock(ctx); err != nil {
			return 0, err
		}
		if err := a.Q.Put(ctx, 1); err != nil {
			return 0, err
		}
		waits := 0
		for {
			v, _, err := a.D.Get(ctx, "go")
			if err != nil {
				return 0, err
			}
			if v == 1 {
				break
			}
			waits++
			if err := a.C.Wait(ctx); err != nil {
				return 0, err
			}
		}
		return waits, a.Mu.Unlock(ctx)
	})
)

type SyncArg struct {
	Mu    *mp.ManagedMutex
	Sem   *mp.ManagedSemaphore
	E     *mp.ManagedEvent
	C     *mp.ManagedCond
	B     *mp.ManagedBarrier
	Q     *mp.ManagedQueue[int]
	JQ    *mp.ManagedJoinableQueue[int]
	D     *mp.Dict[string, int]
	Ready *mp.Event
	N     int
	From  int
}

func startAll[T, R any](t *testing.T, f *mp.Func[T, R], args ...T) []*mp.Process {
	t.Helper()
	var ps []*mp.Process
	for _, a := range args {
		p := mp.NewProcess(f, a)
		if err := p.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Kill(); p.Wait(context.Background()) })
		ps = append(ps, p)
	}
	return ps
}

// TestManagedMutexProcesses: two processes, and four goroutines of this one sharing its
// connection, increment a counter by an unguarded read and write under a managed Mutex: every
// increment is kept (the waits of one connection's goroutines do not block each other).
func TestManagedMutexProcesses(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	a := SyncArg{Mu: mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m)), D: newDict[string, int](t, m), N: 100}
	ps := startAll(t, SyncCount, a, a)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := SyncCount.Call(ctx, a)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := a.D.Get(ctx, "n"); n != 6*a.N || err != nil {
		t.Fatalf("count = %d, %v; want %d (mutual exclusion lost increments)", n, err, 6*a.N)
	}
	if locked, err := a.Mu.Locked(ctx); locked || err != nil {
		t.Fatalf("Locked = %v, %v after every Unlock", locked, err)
	}
}

// TestManagedWaitKeepsConnection: while a Lock of this process waits in the manager, the
// process's other calls, on the same connection, go on.
func TestManagedWaitKeepsConnection(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	mu := mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m))
	d := newDict[string, int](t, m)
	if err := mu.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- mu.Lock(ctx) }() // held by this process: it waits
	for i := range 200 {
		if err := d.Set(ctx, "k", i); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-errc:
		t.Fatalf("the second Lock returned %v while the mutex was held", err)
	default:
	}
	if err := mu.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("the waiting Lock: %v", err)
	}
	if err := mu.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestManagedCancelNoLoss: a Lock, Acquire, Get or Put whose ctx ends as the manager grants it
// either returns ctx's error having done nothing, or succeeds: a lock, a permit, a value are
// never lost nor held by nobody. Each round races the cancel with the grant.
func TestManagedCancelNoLoss(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	mu := mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m))
	sem := mustM[*mp.ManagedSemaphore](t)(mp.NewManagedSemaphore(ctx, m, 0))
	q := mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 1))
	const rounds = 60
	race := func(call func(context.Context) error, grant func() error) (error, bool) {
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- call(cctx) }()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); cancel() }()
		gerr := grant()
		wg.Wait()
		if gerr != nil {
			t.Fatal(gerr)
		}
		err := <-errc
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled call: %v, want nil or context.Canceled", err)
		}
		return err, err == nil
	}
	var granted, withdrawn [4]int
	count := func(i int, ok bool) {
		if ok {
			granted[i]++
		} else {
			withdrawn[i]++
		}
	}
	for range rounds {
		// Lock: held by this process first; the waiter gets it or not, and Locked says which.
		if err := mu.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		_, ok := race(mu.Lock, func() error { return mu.Unlock(ctx) })
		if locked := mustM[bool](t)(mu.Locked(ctx)); locked != ok {
			t.Fatalf("Lock returned ok=%v but the mutex is locked=%v", ok, locked)
		}
		if ok {
			mu.Unlock(ctx)
		}
		count(0, ok)

		// Acquire: the permit released is taken by the waiter or left.
		_, ok = race(func(c context.Context) error { return sem.Acquire(c, 1) }, func() error { return sem.Release(ctx, 1) })
		want := 1
		if ok {
			want = 0
		}
		if v := mustM[int](t)(sem.Value(ctx)); v != want {
			t.Fatalf("Acquire returned ok=%v, Value = %d, want %d", ok, v, want)
		}
		if !ok {
			mustM[bool](t)(sem.TryAcquire(ctx, 1))
		}
		count(1, ok)

		// Get: the value put goes to the waiter or stays in the queue.
		var got int
		_, ok = race(func(c context.Context) error { v, err := q.Get(c); got = v; return err }, func() error { return q.Put(ctx, 7) })
		if ok && got != 7 {
			t.Fatalf("Get = %d, want 7", got)
		}
		if n := mustM[int](t)(q.Len(ctx)); (n == 1) == ok {
			t.Fatalf("Get returned ok=%v and the queue holds %d: the value was lost or doubled", ok, n)
		}
		if !ok {
			if v := mustM[int](t)(q.TryGet(ctx)); v != 7 {
				t.Fatalf("the value left = %d, want 7", v)
			}
		}
		count(2, ok)

		// Put to a full queue: the value goes in or not, and the queue says which.
		if err := q.Put(ctx, 1); err != nil {
			t.Fatal(err)
		}
		_, ok = race(func(c context.Context) error { return q.Put(c, 2) }, func() error {
			v, err := q.Get(ctx)
			if v != 1 && err == nil {
				err = errors.New("Get did not return the first value")
			}
			return err
		})
		v, err := q.TryGet(ctx)
		if ok != (err == nil) || ok && v != 2 {
			t.Fatalf("Put returned ok=%v; then TryGet = %d, %v", ok, v, err)
		}
		count(3, ok)
	}
	t.Logf("granted %v, withdrawn %v of %d rounds (Lock, Acquire, Get, Put)", granted, withdrawn, rounds)
	// The connection is in step: a call gets its own reply.
	for i := range 20 {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
		if v, err := q.Get(ctx); v != i || err != nil {
			t.Fatalf("Get = %d, %v; want %d", v, err, i)
		}
	}
}

// TestManagedCancelled: a wait cut by its ctx returns ctx's error: Lock, Acquire, Get, Put,
// Event and Cond Wait (which returns holding its mutex), Join, and a Barrier's (which breaks it).
func TestManagedCancelled(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	mu := mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m))
	sem := mustM[*mp.ManagedSemaphore](t)(mp.NewManagedSemaphore(ctx, m, 1))
	q := mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 1))
	jq := mustM[*mp.ManagedJoinableQueue[int]](t)(mp.NewManagedJoinableQueue[int](ctx, m, 0))
	ev := mustM[*mp.ManagedEvent](t)(mp.NewManagedEvent(ctx, m))
	cmu := mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m))
	cond := mustM[*mp.ManagedCond](t)(mp.NewManagedCond(ctx, m, cmu))
	bar := mustM[*mp.ManagedBarrier](t)(mp.NewManagedBarrier(ctx, m, 2))
	mustM[bool](t)(mu.TryLock(ctx))
	mustM[bool](t)(sem.TryAcquire(ctx, 1))
	if err := q.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := jq.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := cmu.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	empty := mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 1))
	for _, c := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Lock", mu.Lock},
		{"Acquire", func(c context.Context) error { return sem.Acquire(c, 1) }},
		{"Get", func(c context.Context) error { _, err := empty.Get(c); return err }},
		{"Put", func(c context.Context) error { return q.Put(c, 2) }},
		{"Event.Wait", ev.Wait},
		{"Cond.Wait", cond.Wait},
		{"Join", jq.Join},
		{"Barrier.Wait", func(c context.Context) error { _, err := bar.Wait(c); return err }},
	} {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		err := c.call(cctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s cut by its ctx: %v, want context.DeadlineExceeded", c.name, err)
		}
	}
	if locked := mustM[bool](t)(cmu.Locked(ctx)); !locked {
		t.Fatal("a cancelled Cond.Wait returned without its mutex locked")
	}
	if broken := mustM[bool](t)(bar.Broken(ctx)); !broken {
		t.Fatal("a Barrier whose party was cut short is not broken")
	}
	if _, err := bar.Wait(ctx); !errors.Is(err, mp.ErrBrokenBarrier) {
		t.Fatalf("Wait on a broken barrier: %v", err)
	}
	if n := mustM[int](t)(q.Len(ctx)); n != 1 {
		t.Fatalf("the queue holds %d values after a cancelled Put, want 1", n)
	}
	if v := mustM[int](t)(sem.Value(ctx)); v != 0 {
		t.Fatalf("Value = %d after a cancelled Acquire, want 0", v)
	}
}

// TestManagedOwnerDeath: a process killed holding a managed Mutex and semaphore permits, and
// one waiting at a Barrier: the waiting Lock gets the mutex with ErrOwnerDead, the permits come
// back (the next Acquire is told), the Barrier is broken for the party waiting with it.
func TestManagedOwnerDeath(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	ready := mustM[*mp.Event](t)(mp.NewEvent())
	defer ready.Close()
	a := SyncArg{
		Mu:    mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m)),
		Sem:   mustM[*mp.ManagedSemaphore](t)(mp.NewManagedSemaphore(ctx, m, 3)),
		B:     mustM[*mp.ManagedBarrier](t)(mp.NewManagedBarrier(ctx, m, 3)),
		Ready: ready,
	}
	p := startAll(t, SyncHold, a)[0]
	if err := ready.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to wait at the barrier", func() bool { n, _ := a.B.Waiting(ctx); return n == 1 })
	if v := mustM[int](t)(a.Sem.Value(ctx)); v != 1 {
		t.Fatalf("Value = %d with the child holding 2 of 3, want 1", v)
	}
	lockc := make(chan error, 1)
	go func() { lockc <- a.Mu.Lock(ctx) }()
	barc := make(chan error, 1)
	go func() { _, err := a.B.Wait(ctx); barc <- err }()
	waitFor(t, "this process to wait at the barrier", func() bool { n, _ := a.B.Waiting(ctx); return n == 2 })
	p.Kill()
	p.Wait(ctx)
	if err := <-lockc; !errors.Is(err, mp.ErrOwnerDead) {
		t.Fatalf("Lock after the holder was killed: %v, want ErrOwnerDead", err)
	}
	if locked := mustM[bool](t)(a.Mu.Locked(ctx)); !locked {
		t.Fatal("Lock returned ErrOwnerDead without the mutex")
	}
	if err := a.Mu.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Sem.Acquire(ctx, 3); !errors.Is(err, mp.ErrOwnerDead) {
		t.Fatalf("Acquire(3) after a holder of 2 was killed: %v, want ErrOwnerDead with the permits", err)
	}
	if v := mustM[int](t)(a.Sem.Value(ctx)); v != 0 {
		t.Fatalf("Value = %d after Acquire(3), want 0", v)
	}
	if err := <-barc; !errors.Is(err, mp.ErrBrokenBarrier) {
		t.Fatalf("a party waiting with one that died: %v, want ErrBrokenBarrier", err)
	}
}

// TestManagedQueueProcesses: two producers and two consumers in four processes move 2×400
// values through a queue of capacity 8 (Puts wait for room); each is delivered exactly once.
func TestManagedQueueProcesses(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	q := mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 8))
	const n = 400
	consumers := make([]*mp.Future[[]int], 2)
	pool := mustM[*mp.Pool](t)(mp.NewPool(ctx, mp.WithWorkers(4)))
	defer pool.Close()
	for i := range consumers {
		consumers[i] = mp.Submit(ctx, pool, SyncConsume, SyncArg{Q: q})
	}
	prod := []*mp.Future[struct{}]{
		mp.Submit(ctx, pool, SyncProduce, SyncArg{Q: q, From: 0, N: n}),
		mp.Submit(ctx, pool, SyncProduce, SyncArg{Q: q, From: n, N: n}),
	}
	for _, f := range prod {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, f := range consumers {
		got, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
	}
	slices.Sort(all)
	if len(all) != 2*n {
		t.Fatalf("%d values delivered, want %d", len(all), 2*n)
	}
	for i, v := range all {
		if v != i {
			t.Fatalf("value %d delivered where %d was expected: lost or doubled", v, i)
		}
	}
	if err := q.Put(ctx, 1); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Put after Shutdown: %v", err)
	}
}

// TestManagedJoinableQueue: Join returns once workers in two processes have marked every value
// done; a value taken by a process killed before TaskDone makes Join return ErrOwnerDead.
func TestManagedJoinableQueue(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	jq := mustM[*mp.ManagedJoinableQueue[int]](t)(mp.NewManagedJoinableQueue[int](ctx, m, 16))
	d := newDict[string, int](t, m)
	ps := startAll(t, SyncWork, SyncArg{JQ: jq, D: d}, SyncArg{JQ: jq, D: d})
	want := 0
	for i := range 100 {
		if err := jq.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
		want += i
	}
	if err := jq.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if sum, _, err := d.Get(ctx, "sum"); sum != want || err != nil {
		t.Fatalf("after Join, sum = %d, %v; want %d (Join returned before every value was done)", sum, err, want)
	}
	if n := mustM[int](t)(jq.Unfinished(ctx)); n != 0 {
		t.Fatalf("Unfinished = %d after Join", n)
	}
	if err := jq.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// A consumer killed holding a value.
	jq2 := mustM[*mp.ManagedJoinableQueue[int]](t)(mp.NewManagedJoinableQueue[int](ctx, m, 0))
	if err := jq2.Put(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ready := mustM[*mp.Event](t)(mp.NewEvent())
	defer ready.Close()
	p := startAll(t, SyncHold, SyncArg{JQ: jq2, Ready: ready})[0]
	if err := ready.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	joinc := make(chan error, 1)
	go func() { joinc <- jq2.Join(ctx) }()
	p.Kill()
	p.Wait(ctx)
	if err := <-joinc; !errors.Is(err, mp.ErrOwnerDead) {
		t.Fatalf("Join with the value's taker killed: %v, want ErrOwnerDead", err)
	}
	if n := mustM[int](t)(jq2.Unfinished(ctx)); n != 0 {
		t.Fatalf("Unfinished = %d after the lost value was written off", n)
	}
	if err := jq2.TaskDone(ctx); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("TaskDone with nothing unfinished: %v, want ErrNotHeld", err)
	}
}

// TestManagedEventBarrierCond: an Event set here wakes three processes; a Barrier of three
// processes and this one gives each a distinct index; a Cond signal wakes a process waiting in
// it, which holds the mutex again.
func TestManagedEventBarrierCond(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	a := SyncArg{
		E: mustM[*mp.ManagedEvent](t)(mp.NewManagedEvent(ctx, m)),
		Q: mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 0)),
	}
	ps := startAll(t, SyncWaitEvent, a, a, a)
	for range ps {
		if _, err := a.Q.Get(ctx); err != nil { // each is about to wait
			t.Fatal(err)
		}
	}
	if set := mustM[bool](t)(a.E.IsSet(ctx)); set {
		t.Fatal("IsSet before Set")
	}
	if err := a.E.Set(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}

	b := mustM[*mp.ManagedBarrier](t)(mp.NewManagedBarrier(ctx, m, 4))
	pool := mustM[*mp.Pool](t)(mp.NewPool(ctx, mp.WithWorkers(3)))
	defer pool.Close()
	var fs []*mp.Future[int]
	for range 3 {
		fs = append(fs, mp.Submit(ctx, pool, SyncBarrier, SyncArg{B: b}))
	}
	waitFor(t, "three processes at the barrier", func() bool { n, _ := b.Waiting(ctx); return n == 3 })
	idx := []int{mustM[int](t)(b.Wait(ctx))}
	for _, f := range fs {
		idx = append(idx, mustM[int](t)(f.Wait(ctx)))
	}
	slices.Sort(idx)
	if !slices.Equal(idx, []int{0, 1, 2, 3}) {
		t.Fatalf("arrival indices %v, want 0..3 each once", idx)
	}
	if parties := mustM[int](t)(b.Parties(ctx)); parties != 4 {
		t.Fatalf("Parties = %d", parties)
	}

	c := SyncArg{Mu: mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m)), D: newDict[string, int](t, m), Q: a.Q}
	c.C = mustM[*mp.ManagedCond](t)(mp.NewManagedCond(ctx, m, c.Mu))
	f := mp.Submit(ctx, pool, SyncCondWait, c)
	if _, err := c.Q.Get(ctx); err != nil { // it holds the mutex...
		t.Fatal(err)
	}
	if err := c.Mu.Lock(ctx); err != nil { // ... and let go of it in Wait
		t.Fatal(err)
	}
	if err := c.D.Set(ctx, "go", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.C.Signal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Mu.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if waits, err := f.Wait(ctx); waits != 1 || err != nil {
		t.Fatalf("the Cond waiter: %d waits, %v; want 1, nil", waits, err)
	}
}

// TestManagedManagerDies: a Lock waiting in a manager that is killed returns ErrManagerDead.
func TestManagedManagerDies(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	mu := mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m))
	q := mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 0))
	mu.Lock(ctx)
	lockc, getc := make(chan error, 1), make(chan error, 1)
	go func() { lockc <- mu.Lock(ctx) }()
	go func() { _, err := q.Get(ctx); getc <- err }()
	if err := syscall.Kill(m.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, c := range []chan error{lockc, getc} {
		if err := <-c; !errors.Is(err, mp.ErrManagerDead) {
			t.Fatalf("a waiting call when the manager was killed: %v, want ErrManagerDead", err)
		}
	}
	t.Logf("the waiting calls failed %v after the SIGKILL", time.Since(killed))
}

// TestManagedMisuse: each misuse is a clear error, and the objects are let go of.
func TestManagedMisuse(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	base := objects(t, m)
	mu := mustM[*mp.ManagedMutex](t)(mp.NewManagedMutex(ctx, m))
	if err := mu.Unlock(ctx); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("Unlock of an unlocked mutex: %v", err)
	}
	cond := mustM[*mp.ManagedCond](t)(mp.NewManagedCond(ctx, m, mu))
	if err := cond.Wait(ctx); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("Cond.Wait without the mutex: %v", err)
	}
	q := mustM[*mp.ManagedQueue[string]](t)(mp.NewManagedQueue[string](ctx, m, 1))
	if _, err := q.TryGet(ctx); !errors.Is(err, mp.ErrQueueEmpty) {
		t.Fatalf("TryGet of an empty queue: %v", err)
	}
	if err := q.Put(ctx, strings.Repeat("x", 2<<20)); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("a 2 MiB value: %v", err)
	}
	q.Put(ctx, "a")
	if err := q.TryPut(ctx, "b"); !errors.Is(err, mp.ErrQueueFull) {
		t.Fatalf("TryPut to a full queue: %v", err)
	}
	if _, err := mp.NewManagedQueue[int](ctx, m, -1); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("capacity -1: %v", err)
	}
	if _, err := mp.NewManagedBarrier(ctx, m, 0); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("a barrier of 0 parties: %v", err)
	}
	if _, err := mp.NewManagedCond(ctx, m, nil); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("a Cond over a nil mutex: %v", err)
	}
	bs := mustM[*mp.ManagedSemaphore](t)(mp.NewManagedBoundedSemaphore(ctx, m, 1))
	if err := bs.Release(ctx, 1); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("Release beyond a bounded semaphore's count: %v", err)
	}
	var zero mp.ManagedMutex
	if err := zero.Lock(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Lock of a zero ManagedMutex: %v", err)
	}
	var nilq *mp.ManagedQueue[int]
	if _, err := nilq.Get(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Get of a nil ManagedQueue: %v", err)
	}
	// A proxy stored in a Dict comes back live; a queue holds a proxy on it.
	d := newDict[string, *mp.ManagedQueue[string]](t, m)
	if err := d.Set(ctx, "q", q); err != nil {
		t.Fatal(err)
	}
	q2, _, err := d.Get(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := q2.Get(ctx); v != "a" || err != nil {
		t.Fatalf("Get through a proxy read back from a Dict: %q, %v", v, err)
	}
	q2.Close()
	d.Close()
	for _, c := range []interface{ Close() error }{mu, cond, q, bs} {
		c.Close()
	}
	waitFor(t, "every object to be let go of", func() bool { return objects(t, m) == base })
}

// TestManagedHandoffOneConnection: a Get and a Put of two goroutines of this process, on one
// connection, hand 5,000 values over through a queue of capacity 2, in order: both wait in the
// manager in turn, and the reader's role passes between them without a reply being missed.
func TestManagedHandoffOneConnection(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	q := mustM[*mp.ManagedQueue[int]](t)(mp.NewManagedQueue[int](ctx, m, 2))
	const n = 5000
	done := make(chan error, 1)
	go func() {
		for i := range n {
			v, err := q.Get(ctx)
			if err == nil && v != i {
				err = errors.New("values out of order")
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Every managed type is a Proxy: it can be published and looked up by name.
var (
	_ mp.Proxy = (*mp.ManagedQueue[int])(nil)
	_ mp.Proxy = (*mp.ManagedJoinableQueue[int])(nil)
	_ mp.Proxy = (*mp.ManagedMutex)(nil)
	_ mp.Proxy = (*mp.ManagedSemaphore)(nil)
	_ mp.Proxy = (*mp.ManagedEvent)(nil)
	_ mp.Proxy = (*mp.ManagedCond)(nil)
	_ mp.Proxy = (*mp.ManagedBarrier)(nil)
)

// A published managed queue is found by Lookup and is the same queue.
func TestManagedQueuePublished(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	q := mustM[*mp.ManagedQueue[string]](t)(mp.NewManagedQueue[string](ctx, m, 4))
	defer q.Close()
	if err := m.Publish(ctx, "jobs", q); err != nil {
		t.Fatal(err)
	}
	found, err := mp.Lookup[*mp.ManagedQueue[string]](ctx, m, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer found.Close()
	if err := q.Put(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if v, err := found.Get(ctx); err != nil || v != "one" {
		t.Fatalf("Get through the looked-up queue: %q, %v", v, err)
	}
}
