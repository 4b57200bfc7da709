package mpnats

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

func TestMutexLocal(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const lease = 300 * time.Millisecond
	a, err := NewMutex(ctx, c, "m", WithLease(lease))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewMutex(ctx, c, "m", WithLease(lease))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := NewMutex(ctx, c, "m", WithLease(time.Millisecond)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("WithLease(1ms): %v; want ErrInvalidOption", err)
	}
	if err := a.Unlock(ctx); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("Unlock of an unlocked mutex: %v; want ErrNotHeld", err)
	}
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.TryLock(ctx); err != nil || ok {
		t.Fatalf("TryLock of a held mutex = %v, %v; want false", ok, err)
	}
	if err := b.Unlock(ctx); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("Unlock by a handle that does not hold it: %v; want ErrNotHeld", err)
	}
	if ok, err := b.Locked(ctx); err != nil || !ok {
		t.Fatalf("Locked = %v, %v; want true", ok, err)
	}
	// A live holder keeps it for many leases: a waiter waits (its ctx ends first).
	wctx, cancel := context.WithTimeout(ctx, 4*lease)
	if err := b.Lock(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while a live holder holds it for 4 leases: %v; want DeadlineExceeded", err)
	}
	cancel()
	if !a.Held() || a.Lost() {
		t.Fatalf("holder: Held %v, Lost %v; want true, false", a.Held(), a.Lost())
	}
	// Unlock hands it to a waiter, which gets no ErrOwnerDead.
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx) }()
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Lock after the holder's Unlock: %v; want nil", err)
	}
	// A holder that stops renewing (Close, as a death does) loses it a lease later, and the
	// next Lock reports ErrOwnerDead, holding the mutex.
	b.Close()
	start := time.Now()
	err = a.Lock(ctx)
	if !errors.Is(err, mp.ErrOwnerDead) {
		t.Fatalf("Lock after the holder closed without unlocking: %v; want ErrOwnerDead", err)
	}
	if d := time.Since(start); d < lease/2 || d > lease+2*time.Second {
		t.Fatalf("ErrOwnerDead after %v; want about a lease (%v)", d, lease)
	}
	if !a.Held() {
		t.Fatal("after ErrOwnerDead the mutex is not held")
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Lock on a closed handle: %v; want ErrClosed", err)
	}
}

// lockAndHold locks the mutex Name with lease Wait, reports on the queue Reply, and holds it
// until killed.
var lockAndHold = mp.Register("mpnats_test.lockAndHold", func(ctx context.Context, a childArg) (struct{}, error) {
	c, err := dial(a.URL)
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	m, err := NewMutex(ctx, c, a.Name, WithLease(a.Wait))
	if err != nil {
		return struct{}{}, err
	}
	defer m.Close()
	reply, err := NewQueue[int](ctx, c, a.Reply)
	if err != nil {
		return struct{}{}, err
	}
	defer reply.Close()
	if err := m.Lock(ctx); err != nil {
		return struct{}{}, err
	}
	if err := reply.Put(ctx, 1); err != nil {
		return struct{}{}, err
	}
	<-ctx.Done()
	return struct{}{}, ctx.Err()
})

// A holder process SIGKILLed: a waiter gets the mutex with ErrOwnerDead about a lease later, and
// not before the kill.
func TestMutexOwnerKilled(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	url, c := listenServer(t)
	const lease = 500 * time.Millisecond
	m, err := NewMutex(ctx, c, "mk", WithLease(lease))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	reply, err := NewQueue[int](ctx, c, "mk-reply")
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	p := mp.NewProcess(lockAndHold, childArg{URL: url, Name: "mk", Reply: "mk-reply", Wait: lease})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.Kill()
		p.Wait(context.Background())
	}()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := reply.Get(rctx); err != nil {
		t.Fatalf("the child's report: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- m.Lock(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("Lock returned %v while the live child held the mutex", err)
	case <-time.After(4 * lease):
	}
	killed := time.Now()
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, mp.ErrOwnerDead) {
			t.Fatalf("Lock after the holder was killed: %v; want ErrOwnerDead", err)
		}
		t.Logf("ErrOwnerDead %v after the kill (lease %v): %v", time.Since(killed), lease, err)
	case <-time.After(lease + 5*time.Second):
		t.Fatalf("Lock did not return within %v of the kill", lease+5*time.Second)
	}
	if err := m.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// countUnderLock increments the dict's "n" N times, each a Get and a Set under the mutex Name.
var countUnderLock = mp.Register("mpnats_test.countUnderLock", func(ctx context.Context, a childArg) (struct{}, error) {
	c, err := dial(a.URL)
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	m, err := NewMutex(ctx, c, a.Name, WithLease(a.Wait))
	if err != nil {
		return struct{}{}, err
	}
	defer m.Close()
	d, err := NewDict[string, int](ctx, c, a.Name)
	if err != nil {
		return struct{}{}, err
	}
	for range a.N {
		if err := m.Lock(ctx); err != nil {
			return struct{}{}, err
		}
		v, _, err := d.Get(ctx, "n")
		if err == nil {
			err = d.Set(ctx, "n", v+1)
		}
		if uerr := m.Unlock(ctx); err == nil {
			err = uerr
		}
		if err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
})

// Two processes increment a counter with a read and a write under the mutex: none is lost.
func TestMutexExclusionAcrossProcesses(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	url, c := listenServer(t)
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := mp.Run(ctx, countUnderLock, childArg{URL: url, Name: "mx", N: n, Wait: 5 * time.Second})
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
	d, err := NewDict[string, int](ctx, c, "mx")
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := d.Get(ctx, "n"); err != nil || v != 2*n {
		t.Fatalf("count = %d, %v; want %d", v, err, 2*n)
	}
}

// Goroutines sharing a handle take turns; two Unlocks at once: one succeeds, one is ErrNotHeld.
func TestMutexSharedHandle(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := NewMutex(ctx, c, "shared", WithLease(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	inside, max := 0, 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := m.Lock(ctx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				max = maxInt(max, inside)
				mu.Unlock()
				time.Sleep(time.Millisecond) // inside the critical section: give others a chance to enter wrongly
				mu.Lock()
				inside--
				mu.Unlock()
				if err := m.Unlock(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if max != 1 {
		t.Fatalf("%d goroutines held the mutex at once", max)
	}
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- m.Unlock(ctx) }()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), mp.ErrNotHeld) {
		t.Fatalf("two Unlocks at once: %v and %v; want one nil and one ErrNotHeld", e1, e2)
	}
	if ok, err := m.TryLock(ctx); err != nil || !ok {
		t.Fatalf("TryLock after the Unlocks = %v, %v; want true", ok, err)
	}
	if err := m.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
