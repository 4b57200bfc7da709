//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// CounterArg is what the counting children get.
type CounterArg struct {
	M *mp.Mutex
	V *mp.Value[int64]
	N int
}

// HoldArg asks a child to lock M, set Locked, and wait to be killed.
type HoldArg struct {
	M      *mp.Mutex
	Locked *mp.Event
}

// SemArg asks a child to take K permits and signal.
type SemArg struct {
	S    *mp.Semaphore
	K    int
	Took *mp.Event
}

// CondArg asks a child to wait until V reaches Want.
type CondArg struct {
	C    *mp.Cond
	V    *mp.Value[int64]
	Want int64
}

// CondOnceArg asks a child to wait once on C, holding C.L, and to put ID on Woke when the wait
// returns.
type CondOnceArg struct {
	C    *mp.Cond
	ID   int
	Woke *mp.Queue[int]
}

// BarrierArg asks a child to wait at B, Rounds times, reporting its indices on Out.
type BarrierArg struct {
	B      *mp.Barrier
	Rounds int
	Out    *mp.Queue[int]
}

// ShmArg hands a child segments to read.
type ShmArg struct {
	Anon  *mp.SharedMemory
	Name  string
	Arr   *mp.Array[float64]
	Ready *mp.Event
}

var (
	// CountUnderLock increments V N times with a non-atomic read-modify-write under M.
	CountUnderLock = mp.Register("test.count_under_lock", func(ctx context.Context, a CounterArg) (struct{}, error) {
		for range a.N {
			if err := a.M.Lock(ctx); err != nil {
				return struct{}{}, err
			}
			a.V.Store(a.V.Load() + 1)
			a.M.Unlock()
		}
		return struct{}{}, nil
	})
	CountAtomic = mp.Register("test.count_atomic", func(ctx context.Context, a CounterArg) (struct{}, error) {
		for range a.N {
			a.V.Add(1)
		}
		return struct{}{}, nil
	})
	HoldLock = mp.Register("test.hold_lock", func(ctx context.Context, a HoldArg) (struct{}, error) {
		if err := a.M.Lock(ctx); err != nil {
			return struct{}{}, err
		}
		a.Locked.Set()
		<-ctx.Done()
		return struct{}{}, nil
	})
	TakePermits = mp.Register("test.take_permits", func(ctx context.Context, a SemArg) (struct{}, error) {
		if err := a.S.Acquire(ctx, a.K); err != nil {
			return struct{}{}, err
		}
		a.Took.Set()
		<-ctx.Done()
		return struct{}{}, nil
	})
	WaitCond = mp.Register("test.wait_cond", func(ctx context.Context, a CondArg) (int64, error) {
		if err := a.C.L.Lock(ctx); err != nil {
			return 0, err
		}
		defer a.C.L.Unlock()
		for a.V.Load() < a.Want {
			if err := a.C.Wait(ctx); err != nil {
				return 0, err
			}
		}
		return a.V.Load(), nil
	})
	WaitCondOnce = mp.Register("test.wait_cond_once", func(ctx context.Context, a CondOnceArg) (struct{}, error) {
		if err := a.C.L.Lock(ctx); err != nil {
			return struct{}{}, err
		}
		err := a.C.Wait(ctx)
		a.C.L.Unlock()
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, a.Woke.Put(ctx, a.ID)
	})
	WaitBarrier = mp.Register("test.wait_barrier", func(ctx context.Context, a BarrierArg) (struct{}, error) {
		for range a.Rounds {
			i, err := a.B.Wait(ctx)
			if err != nil {
				return struct{}{}, err
			}
			a.Out.Put(ctx, i)
		}
		return struct{}{}, nil
	})
	WaitEvent = mp.Register("test.wait_event", func(ctx context.Context, e *mp.Event) (bool, error) {
		return e.IsSet(), e.Wait(ctx)
	})
	ReadShm = mp.Register("test.read_shm", func(ctx context.Context, a ShmArg) (string, error) {
		named, err := mp.OpenSharedMemory(a.Name, 0)
		if err != nil {
			return "", err
		}
		defer named.Close()
		s := fmt.Sprintf("%s|%s|%v", strings.TrimRight(string(a.Anon.Bytes()[:8]), "\x00"), strings.TrimRight(string(named.Bytes()[:8]), "\x00"), a.Arr.Slice())
		a.Anon.Bytes()[0] = 'X' // seen by the parent
		return s, nil
	})
	LeakShm = mp.Register("test.leak_shm", func(ctx context.Context, name string) (struct{}, error) {
		_, err := mp.CreateSharedMemory(name, 4096)
		return struct{}{}, err // exits without Unlink
	})
)

func TestMutexInProcess(t *testing.T) {
	ctx := ctxT(t)
	m, err := mp.NewMutex()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.TryLock(); ok || err != nil {
		t.Fatalf("TryLock of a locked mutex = %v, %v", ok, err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := m.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a locked mutex with an expiring ctx: %v", err)
	}
	done := make(chan struct{})
	go func() {
		m.Locker().Lock()
		held := m.Locked()
		m.Locker().Unlock()
		if held {
			close(done) // the lock was taken and given back: the Unlock below finds it free
		}
	}()
	waitUntil(t, "the goroutine sleeps in Lock", func() bool { return mp.MutexHasWaiter(m) })
	m.Unlock()
	within(t, "Lock after Unlock", done)
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "unlocked") {
				t.Fatalf("Unlock of an unlocked mutex: panic %v", r)
			}
		}()
		m.Unlock()
	}()
	m.Close()
	if err := m.Lock(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Lock after Close: %v", err)
	}
}

func TestMutexAcrossProcesses(t *testing.T) {
	ctx := ctxT(t)
	m := must(mp.NewMutex())
	v := must(mp.NewValue[int64](0))
	const procs, each = 4, 2000
	var ps []*mp.Process
	for range procs {
		p := mp.NewProcess(CountUnderLock, CounterArg{M: m, V: v, N: each})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.Load(); got != procs*each {
		t.Fatalf("counter = %d; want %d (a lost update means the mutex did not exclude)", got, procs*each)
	}
	// The atomic way, without the lock.
	v.Store(0)
	ps = nil
	for range procs {
		p := mp.NewProcess(CountAtomic, CounterArg{V: v, N: each})
		p.Start(ctx)
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.Load(); got != procs*each {
		t.Fatalf("atomic counter = %d; want %d", got, procs*each)
	}
}

// TestMutexOwnerDies kills a child with SIGKILL while it holds the mutex: the next Lock gets it,
// with ErrOwnerDead.
func TestMutexOwnerDies(t *testing.T) {
	ctx := ctxT(t)
	m := must(mp.NewMutex())
	locked := must(mp.NewEvent())
	p := mp.NewProcess(HoldLock, HoldArg{M: m, Locked: locked})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := locked.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.TryLock(); ok || err != nil {
		t.Fatalf("TryLock while a live child holds it = %v, %v", ok, err)
	}
	got := make(chan error, 1)
	go func() { got <- m.Lock(ctx) }()
	waitUntil(t, "Lock sleeps waiting for the holder", func() bool { return mp.MutexHasWaiter(m) })
	p.Kill()
	p.Wait(ctx)
	select {
	case err := <-got:
		if !errors.Is(err, mp.ErrOwnerDead) {
			t.Fatalf("Lock after the holder was killed: %v; want ErrOwnerDead", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lock did not take over the mutex of a dead holder")
	}
	m.Unlock()
	if err := m.Lock(ctx); err != nil {
		t.Fatalf("Lock after repair: %v", err)
	}
	m.Unlock()
	// TryLock sees a dead holder at once.
	p = mp.NewProcess(HoldLock, HoldArg{M: m, Locked: locked})
	locked.Clear()
	p.Start(ctx)
	locked.Wait(ctx)
	p.Kill()
	p.Wait(ctx)
	if ok, err := m.TryLock(); !ok || !errors.Is(err, mp.ErrOwnerDead) {
		t.Fatalf("TryLock of a dead holder's mutex = %v, %v; want true, ErrOwnerDead", ok, err)
	}
	m.Unlock()
}

func TestSemaphore(t *testing.T) {
	ctx := ctxT(t)
	if _, err := mp.NewSemaphore(-1); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("negative count: %v", err)
	}
	s := must(mp.NewBoundedSemaphore(2))
	if !s.TryAcquire(2) || s.TryAcquire(1) || s.Value() != 0 {
		t.Fatal("TryAcquire does not count")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.Acquire(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with no permits: %v", err)
	}
	done := make(chan error)
	go func() { done <- s.Acquire(ctx, 2) }()
	waitUntil(t, "Acquire sleeps", func() bool { return mp.SemaphoreHasWaiter(s) })
	s.Release(1)
	s.Release(1)
	if err := within(t, "Acquire after Release", done); err != nil {
		t.Fatal(err)
	}
	s.Release(2)
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "too many") {
				t.Fatalf("over-release of a bounded semaphore: panic %v", r)
			}
		}()
		s.Release(1)
	}()
	// An unbounded one may grow.
	u := must(mp.NewSemaphore(0))
	u.Release(3)
	if u.Value() != 3 {
		t.Fatalf("Value after Release(3) = %d", u.Value())
	}
}

// TestSemaphoreHolderDies: permits held by a killed process come back to the semaphore.
func TestSemaphoreHolderDies(t *testing.T) {
	ctx := ctxT(t)
	s := must(mp.NewBoundedSemaphore(2))
	took := must(mp.NewEvent())
	p := mp.NewProcess(TakePermits, SemArg{S: s, K: 2, Took: took})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	took.Wait(ctx)
	if s.Value() != 0 {
		t.Fatalf("Value while the child holds both = %d", s.Value())
	}
	p.Kill()
	p.Wait(ctx)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Acquire(wctx, 2); err != nil {
		t.Fatalf("Acquire after the holder died: %v; its permits should come back", err)
	}
	s.Release(2)
	if s.Value() != 2 {
		t.Fatalf("Value at the end = %d; want 2", s.Value())
	}
}

func TestEvent(t *testing.T) {
	ctx := ctxT(t)
	e := must(mp.NewEvent())
	p := mp.NewProcess(WaitEvent, e)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the child sleeps in Wait", func() bool { return mp.EventHasWaiter(e) })
	if !p.Alive() {
		t.Fatal("the child did not wait for the event")
	}
	e.Set()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !e.IsSet() {
		t.Fatal("IsSet after Set = false")
	}
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	e.Clear()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := e.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a cleared event: %v", err)
	}
	e.Close()
	if err := e.Set(); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
}

func TestCond(t *testing.T) {
	ctx := ctxT(t)
	m := must(mp.NewMutex())
	c := must(mp.NewCond(m))
	v := must(mp.NewValue[int64](0))
	var ps []*mp.Process
	for range 3 {
		p := mp.NewProcess(WaitCond, CondArg{C: c, V: v, Want: 3})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for range 3 {
		waitUntil(t, "the 3 children wait on the Cond", func() bool { return mp.CondWaiters(c) == 3 })
		m.Lock(ctx)
		v.Add(1)
		c.Broadcast()
		m.Unlock()
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Wait bounded by ctx comes back holding the lock.
	m.Lock(ctx)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := c.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Cond.Wait with an expiring ctx: %v", err)
	}
	if !m.Locked() {
		t.Fatal("Cond.Wait returned without the lock")
	}
	m.Unlock()
}

func TestBarrier(t *testing.T) {
	ctx := ctxT(t)
	b, err := mp.NewBarrier(4)
	if err != nil {
		t.Fatal(err)
	}
	out := must(mp.NewQueue[int](0))
	var ps []*mp.Process
	for range 3 {
		p := mp.NewProcess(WaitBarrier, BarrierArg{B: b, Rounds: 2, Out: out})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	var idx []int
	for range 2 {
		i, err := b.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, i)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for out.Len() > 0 {
		i, _ := out.Get(ctx)
		idx = append(idx, i)
	}
	slices.Sort(idx)
	if !slices.Equal(idx, []int{0, 0, 1, 1, 2, 2, 3, 3}) {
		t.Fatalf("arrival indices over two rounds: %v", idx)
	}
	// A party that times out breaks it for the others.
	b2 := must(mp.NewBarrier(3))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[0] = b2.Wait(ctx) }()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, errs[1] = b2.Wait(short)
	waitGroup(t, "the other party's Wait", &wg)
	if !errors.Is(errs[0], mp.ErrBrokenBarrier) || !errors.Is(errs[1], mp.ErrBrokenBarrier) || !errors.Is(errs[1], context.DeadlineExceeded) {
		t.Fatalf("after a party timed out: %v / %v; want ErrBrokenBarrier for both (and DeadlineExceeded for the one that timed out)", errs[0], errs[1])
	}
	if _, err := b2.Wait(ctx); !errors.Is(err, mp.ErrBrokenBarrier) {
		t.Fatalf("Wait on a broken barrier: %v", err)
	}
	// Reset makes it whole again; Reset with a waiter breaks that waiter.
	b2.Reset()
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[0] = b2.Wait(ctx) }()
	waitUntil(t, "a party waits", func() bool { return b2.Waiting() != 0 })
	b2.Reset()
	waitGroup(t, "the waiter's Wait after Reset", &wg)
	if !errors.Is(errs[0], mp.ErrBrokenBarrier) {
		t.Fatalf("a waiter during Reset: %v", errs[0])
	}
	b2.Abort()
	if _, err := b2.Wait(ctx); !errors.Is(err, mp.ErrBrokenBarrier) {
		t.Fatalf("Wait after Abort: %v", err)
	}
	if _, err := mp.NewBarrier(0); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("NewBarrier(0): %v", err)
	}
}

// TestBarrierPartyDies kills a process waiting at a barrier: the others get ErrBrokenBarrier.
func TestBarrierPartyDies(t *testing.T) {
	ctx := ctxT(t)
	b := must(mp.NewBarrier(3))
	out := must(mp.NewQueue[int](0))
	p := mp.NewProcess(WaitBarrier, BarrierArg{B: b, Rounds: 1, Out: out})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the child waits at the barrier", func() bool { return b.Waiting() != 0 })
	p.Kill()
	p.Wait(ctx)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Wait(wctx); !errors.Is(err, mp.ErrBrokenBarrier) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait after a waiting party died: %v; want ErrBrokenBarrier before the ctx ends", err)
	}
}

func TestSharedMemory(t *testing.T) {
	ctx := ctxT(t)
	name := fmt.Sprintf("mp-test-%d", os.Getpid())
	mp.RemoveSharedMemory(name)
	named, err := mp.CreateSharedMemory(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer named.Unlink()
	copy(named.Bytes(), "named")
	if _, err := mp.CreateSharedMemory(name, 4096); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("creating an existing name: %v", err)
	}
	anon := must(mp.CreateSharedMemory("", 100))
	copy(anon.Bytes(), "anon")
	arr := must(mp.NewArray[float64](3))
	copy(arr.Slice(), []float64{1.5, 2.5, 3.5})
	got, err := mp.Run(ctx, ReadShm, ShmArg{Anon: anon, Name: "/" + name, Arr: arr})
	if err != nil {
		t.Fatal(err)
	}
	if got != "anon|named|[1.5 2.5 3.5]" {
		t.Fatalf("child read %q", got)
	}
	if anon.Bytes()[0] != 'X' {
		t.Fatal("the child's write to the anonymous segment is not seen by the parent")
	}
	// Opening checks; never deletes.
	if _, err := mp.OpenSharedMemory(name, 8192); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("open with the wrong size: %v", err)
	}
	o, err := mp.OpenSharedMemory(name, 4096)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if _, err := mp.OpenSharedMemory(name, 0); err != nil {
		t.Fatalf("the segment went away when an opener closed it: %v", err)
	}
	if _, err := mp.OpenSharedMemory(name+"-missing", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing segment: %v", err)
	}
	for _, bad := range []string{"a/b", "..", "x\x00y"} {
		if _, err := mp.CreateSharedMemory(bad, 10); !errors.Is(err, mp.ErrInvalidOption) {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	if _, err := mp.CreateSharedMemory("", -1); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("negative size: %v", err)
	}
	if err := named.Unlink(); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.OpenSharedMemory(name, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open after Unlink: %v", err)
	}
}

func TestLeakedSharedMemory(t *testing.T) {
	ctx := ctxT(t)
	name := fmt.Sprintf("mp-test-leak-%d", os.Getpid())
	if _, err := mp.Run(ctx, LeakShm, name); err != nil {
		t.Fatal(err)
	}
	leaked, err := mp.LeakedSharedMemory()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(leaked, name) {
		t.Fatalf("LeakedSharedMemory = %v; want it to list %q", leaked, name)
	}
	if err := mp.RemoveSharedMemory(name); err != nil {
		t.Fatal(err)
	}
	leaked, _ = mp.LeakedSharedMemory()
	if slices.Contains(leaked, name) {
		t.Fatal("still leaked after RemoveSharedMemory")
	}
}

func TestValueAndArray(t *testing.T) {
	f := must(mp.NewValue(1.5))
	if f.Add(1) != 2.5 || f.Load() != 2.5 || !f.CompareAndSwap(2.5, 4) || f.Load() != 4 {
		t.Fatalf("float Value: %v", f.Load())
	}
	i := must(mp.NewValue[uint32](7))
	if i.Add(3) != 10 || i.CompareAndSwap(9, 1) {
		t.Fatal("uint32 Value")
	}
	if _, err := mp.NewArray[int64](-1); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("negative length: %v", err)
	}
	a := must(mp.NewArray[int32](1000))
	if a.Len() != 1000 || len(a.Slice()) != 1000 {
		t.Fatal("Array length")
	}
	a.Close()
	func() {
		defer func() {
			if r := recover(); r == nil || !errors.Is(r.(error), mp.ErrClosed) {
				t.Fatalf("Slice after Close: panic %v", r)
			}
		}()
		a.Slice()
	}()
}

// TestBarrierLastArrivalSeesDeadParty: the last party to arrive finds a waiting party dead and
// breaks the barrier rather than completing the round.
func TestBarrierLastArrivalSeesDeadParty(t *testing.T) {
	ctx := ctxT(t)
	b := must(mp.NewBarrier(2))
	out := must(mp.NewQueue[int](0))
	p := mp.NewProcess(WaitBarrier, BarrierArg{B: b, Rounds: 1, Out: out})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the child waits at the barrier", func() bool { return b.Waiting() != 0 })
	p.Kill()
	p.Wait(ctx)
	if _, err := b.Wait(ctx); !errors.Is(err, mp.ErrBrokenBarrier) {
		t.Fatalf("last arrival with a dead waiting party: %v; want ErrBrokenBarrier", err)
	}
}

// TestCondSignalWakesOne: one Signal wakes one of the waiting children, and the others go on
// waiting well past the 100 ms after which waiters look again; Notify(n) wakes n, Broadcast the
// rest.
func TestCondSignalWakesOne(t *testing.T) {
	ctx := ctxT(t)
	m := must(mp.NewMutex())
	c := must(mp.NewCond(m))
	woke := must(mp.NewQueue[int](0))
	const n = 4
	var ps []*mp.Process
	for i := range n {
		p := mp.NewProcess(WaitCondOnce, CondOnceArg{C: c, ID: i, Woke: woke})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	waitUntil(t, "every child waits on the Cond", func() bool { return mp.CondWaiters(c) == n })
	// expect checks that k children wake within a bounded time, and then no more for 500 ms.
	expect := func(what string, k int) {
		t.Helper()
		for i := range k {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := woke.Get(wctx)
			cancel()
			if err != nil {
				t.Fatalf("after %s: child %d of %d woke: %v", what, i+1, k, err)
			}
		}
		quiet, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if id, err := woke.Get(quiet); err == nil {
			t.Fatalf("after %s: %d children woke and then child %d too; want %d", what, k, id, k)
		}
	}
	m.Lock(ctx)
	c.Signal()
	m.Unlock()
	expect("one Signal", 1)
	if w := mp.CondWaiters(c); w != n-1 {
		t.Fatalf("waiters after one Signal = %d; want %d", w, n-1)
	}
	c.Notify(2)
	expect("Notify(2)", 2)
	c.Broadcast()
	expect("Broadcast", 1)
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Notify(-1); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Notify(-1): %v", err)
	}
	if _, err := mp.NewCond(nil); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("NewCond(nil): %v", err)
	}
}

// TestCondWaitCancelled: a waiter that gives up leaves the count, so a Signal after it goes to a
// waiter still waiting, not to the one gone.
func TestCondWaitCancelled(t *testing.T) {
	ctx := ctxT(t)
	m := must(mp.NewMutex())
	c := must(mp.NewCond(m))
	waitIn := func(ctx context.Context) <-chan error {
		ch := make(chan error, 1)
		go func() {
			if err := m.Lock(ctx); err != nil {
				ch <- err
				return
			}
			err := c.Wait(ctx)
			m.Unlock()
			ch <- err
		}()
		return ch
	}
	cctx, cancel := context.WithCancel(ctx)
	gone := waitIn(cctx)
	waitUntil(t, "the first waiter waits", func() bool { return mp.CondWaiters(c) == 1 })
	stays := waitIn(ctx)
	waitUntil(t, "both wait", func() bool { return mp.CondWaiters(c) == 2 })
	cancel()
	if err := within(t, "the cancelled Wait", gone); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Wait: %v", err)
	}
	if w := mp.CondWaiters(c); w != 1 {
		t.Fatalf("waiters after one gave up = %d; want 1", w)
	}
	c.Signal()
	if err := within(t, "the Wait left after a Signal", stays); err != nil {
		t.Fatalf("Wait woken by Signal: %v", err)
	}
}

// waitUntil polls cond until it holds, and fails the test if it does not within 10 s. It waits
// for facts that a waiter publishes (that it sleeps, that it arrived), never for time to pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// within receives from ch, and fails the test if nothing comes within 10 s.
func within[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out after 10s waiting for %s", what)
		panic("unreachable")
	}
}

// waitGroup waits for wg, and fails the test if it takes more than 10 s.
func waitGroup(t *testing.T, what string, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	within(t, what, done)
}

// TestCondSignalThenWait: two goroutines take turns under one Cond, each Signalling and then
// Waiting for its own turn. The Signal's token goes to the other, never back to the goroutine that
// waits right after making it (which would leave both waiting).
func TestCondSignalThenWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := must(mp.NewMutex())
	defer m.Close()
	c := must(mp.NewCond(m))
	defer c.Close()
	turn := must(mp.NewValue[int64](0))
	defer turn.Close()
	const rounds = 2000
	player := func(me int64) error {
		if err := m.Lock(ctx); err != nil {
			return err
		}
		defer m.Unlock()
		for range rounds {
			for turn.Load() != me {
				if err := c.Wait(ctx); err != nil {
					return fmt.Errorf("player %d: %w", me, err)
				}
			}
			turn.Store(1 - me)
			c.Signal()
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- player(1) }()
	if err := player(0); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
