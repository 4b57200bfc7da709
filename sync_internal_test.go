//go:build unix

package mp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp-go/mp/internal/lockword"
	"github.com/mp-go/mp/internal/procid"
	"github.com/mp-go/mp/internal/shm"
)

// stranger starts an unrelated live process (sleep 60) and returns its ID as the system tells it
// and the same pid with another start time: what a lock word holds when its owner died and the
// pid was given to the stranger since. The tests so avoid wrapping the whole pid space.
func stranger(t *testing.T) (live, reused procid.ID) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep(1):", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	live = procid.Of(cmd.Process.Pid)
	if live.Stamp() == 0 {
		t.Skip("this system does not tell start times: owners are known by pid alone")
	}
	wrong := live.Stamp() + 1
	if wrong == 0 {
		wrong = 1
	}
	return live, procid.Make(live.Pid(), wrong)
}

// TestMutexOwnerPidReused: a holder that died and whose pid is now another live process's is
// dead; a live holder with the right start time is waited for.
func TestMutexOwnerPidReused(t *testing.T) {
	live, reused := stranger(t)
	m, err := NewMutex()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	atomic.StoreUint64(m.w, uint64(reused))
	if ok, err := m.TryLock(); !ok || !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("TryLock of a mutex whose holder's pid was reused = %v, %v; want true, ErrOwnerDead", ok, err)
	}
	m.Unlock()
	atomic.StoreUint64(m.w, uint64(reused)|lockContended)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := m.Lock(ctx); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock of a mutex whose holder's pid was reused: %v; want ErrOwnerDead", err)
	}
	if d := time.Since(start); d > 10*lockProbe {
		t.Fatalf("Lock took %v to take over from the dead holder", d)
	}
	m.Unlock()

	// The same pid with its own start time is a live holder: not robbed.
	atomic.StoreUint64(m.w, uint64(live))
	if ok, err := m.TryLock(); ok || err != nil {
		t.Fatalf("TryLock of a mutex held by a live process = %v, %v; want false, nil", ok, err)
	}
	short, cancel2 := context.WithTimeout(ctx, 3*lockProbe)
	defer cancel2()
	if err := m.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a mutex held by a live process: %v; want the ctx's deadline", err)
	}
	if lockword.Owner(atomic.LoadUint64(m.w)) != live {
		t.Fatalf("the lock word is %x; want it still %x's", atomic.LoadUint64(m.w), live)
	}
	m.Unlock()
}

// TestSemaphorePermitsOfReusedPid: permits recorded for a dead process whose pid is now another
// live process's come back; those of a live holder stay taken.
func TestSemaphorePermitsOfReusedPid(t *testing.T) {
	live, reused := stranger(t)
	sem, err := NewSemaphore(2)
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Close()
	hold := func(id procid.ID) semSlot {
		sl := sem.slotAt(semNSlots - 1)
		atomic.StoreUint64(sl.id, uint64(id))
		atomic.StoreUint32(sl.held, 2)
		atomic.StoreUint32(sem.count, 0)
		return sl
	}
	hold(reused)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sem.Acquire(ctx, 2); err != nil {
		t.Fatalf("Acquire with the permits held by a dead process whose pid was reused: %v", err)
	}
	sem.Release(2)

	sl := hold(live)
	short, cancel2 := context.WithTimeout(ctx, 3*lockProbe)
	defer cancel2()
	if err := sem.Acquire(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire with the permits held by a live process: %v; want the ctx's deadline", err)
	}
	if h, c := atomic.LoadUint32(sl.held), sem.Value(); h != 2 || c != 0 {
		t.Fatalf("a live holder's permits: held %d, available %d; want 2 held, 0 available", h, c)
	}
}

// TestBarrierPartyPidReused: a waiting party that died, whose pid is now another live process's,
// breaks the barrier, for the last to arrive and for a party waiting; a live party does not.
func TestBarrierPartyPidReused(t *testing.T) {
	live, reused := stranger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	arrive := func(b *Barrier, id procid.ID) {
		atomic.StoreUint64(b.s.word64(barIDs), uint64(id))
		atomic.StoreUint32(b.arrived, 1)
	}

	b, err := NewBarrier(2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	arrive(b, reused)
	if _, err := b.Wait(ctx); !errors.Is(err, ErrBrokenBarrier) {
		t.Fatalf("last arrival with a dead party whose pid was reused: %v; want ErrBrokenBarrier", err)
	}
	b.Reset()
	arrive(b, live)
	if i, err := b.Wait(ctx); err != nil || i != 1 {
		t.Fatalf("last arrival with a live party = %d, %v; want 1, nil", i, err)
	}

	b3, err := NewBarrier(3)
	if err != nil {
		t.Fatal(err)
	}
	defer b3.Close()
	arrive(b3, reused)
	if _, err := b3.Wait(ctx); !errors.Is(err, ErrBrokenBarrier) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting with a dead party whose pid was reused: %v; want ErrBrokenBarrier before the ctx ends", err)
	}
	b3.Reset()
	arrive(b3, live)
	short, cancel2 := context.WithTimeout(ctx, 3*lockProbe)
	defer cancel2()
	if _, err := b3.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting with a live party: %v; want the barrier broken by the ctx's deadline, not by a death", err)
	}
}

// TestJoinHolderPidReused: a value held by a dead process whose pid is now another live
// process's is lost, and Join says so; one held by a live process is waited for.
func TestJoinHolderPidReused(t *testing.T) {
	live, reused := stranger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := NewJoinableQueue[int](0)
	if err != nil {
		t.Fatal(err)
	}
	// Take a value here, then hand this process's entry in the holders table to id.
	takeAs := func(id procid.ID) {
		t.Helper()
		if err := q.Put(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Get(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range holderEntries {
			if q.q.r.holderHeld(i) == q.q.r.held.Load() {
				atomic.StoreUint64(q.q.r.holderID(i), uint64(id))
				return
			}
		}
		t.Fatal("this process has no entry in the holders table after a Get")
	}

	takeAs(live)
	short, cancel2 := context.WithTimeout(ctx, 3*lockProbe)
	defer cancel2()
	if err := q.Join(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with a value held by a live process: %v; want the ctx's deadline", err)
	}
	if n := q.Unfinished(); n != 1 {
		t.Fatalf("Unfinished = %d; want 1", n)
	}
	q.TaskDone() // counted against this process's entry, which is now live's: as the holder would

	takeAs(reused)
	start := time.Now()
	err = q.Join(ctx)
	if !errors.Is(err, ErrOwnerDead) || !strings.Contains(err.Error(), "1 value ") {
		t.Fatalf("Join with a value held by a dead process whose pid was reused: %v; want ErrOwnerDead for 1 value", err)
	}
	if d := time.Since(start); d > 10*lockProbe {
		t.Fatalf("Join took %v to see the value lost", d)
	}
	if n := q.Unfinished(); n != 0 {
		t.Fatalf("Unfinished after the loss was reported = %d; want 0 (written off)", n)
	}
}

// TestShmErrorMatchesErrNotSupported: internal/shm's ErrNotSupported (what a platform without
// shared memory returns) matches mp.ErrNotSupported once it reaches the root's API, and other
// errors keep their identity.
func TestShmErrorMatchesErrNotSupported(t *testing.T) {
	err := fmt.Errorf("mp: making a queue: %w", shmError(shm.ErrNotSupported))
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("%v does not match ErrNotSupported", err)
	}
	if err := shmError(fs.ErrPermission); err != fs.ErrPermission {
		t.Fatalf("shmError(fs.ErrPermission) = %v", err)
	}
}
