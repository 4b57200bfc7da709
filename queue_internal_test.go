//go:build unix

package mp

import (
	"context"
	"errors"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp-go/mp/internal/procid"
)

type shape struct {
	N    int
	Name string
}

// TestQueueWrongShape puts values of other types on a queue through views of the same shared
// memory: each is a clear decode error, consumed, and the queue goes on working.
func TestQueueWrongShape(t *testing.T) {
	ctx := context.Background()
	q, err := NewQueue[shape](0)
	if err != nil {
		t.Fatal(err)
	}
	asStrings := &Queue[string]{r: q.r}
	asInts := &Queue[int64]{r: q.r}
	asStrings.Put(ctx, "not a shape")
	asInts.Put(ctx, 42) // stored as its memory
	q.Put(ctx, shape{N: 1, Name: "ok"})
	for i := range 2 {
		if _, err := q.Get(ctx); !errors.Is(err, ErrDecode) {
			t.Fatalf("value %d of another type: %v; want ErrDecode", i, err)
		}
	}
	if v, err := q.Get(ctx); err != nil || v.Name != "ok" {
		t.Fatalf("Get after bad values = %+v, %v", v, err)
	}
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) uint32 {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	return uint32(cmd.Process.Pid)
}

// TestQueueLockOfDeadOwner: a process that died holding the consumer (or producer) lock does not
// block the others; the lock is taken over within about lockProbe.
func TestQueueLockOfDeadOwner(t *testing.T) {
	ctx := context.Background()
	q, err := NewQueue[int](0)
	if err != nil {
		t.Fatal(err)
	}
	dead := uint64(deadPid(t))
	q.Put(ctx, 7)
	atomic.StoreUint64(lockAt(q.r.clock), dead) // as if killed between lock and unlock in Get
	start := time.Now()
	v, err := q.Get(ctx)
	if err != nil || v != 7 {
		t.Fatalf("Get with a dead lock owner = %d, %v", v, err)
	}
	if d := time.Since(start); d > 10*lockProbe {
		t.Fatalf("taking over the lock took %v", d)
	}
	atomic.StoreUint64(lockAt(q.r.plock), dead|lockContended)
	if err := q.Put(ctx, 8); err != nil {
		t.Fatal(err)
	}
	// A live owner is waited for, not robbed: ctx ends the wait.
	atomic.StoreUint64(lockAt(q.r.clock), uint64(procid.Self()))
	short, cancel := context.WithTimeout(ctx, 3*lockProbe)
	defer cancel()
	if _, err := q.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get while a live process holds the lock: %v", err)
	}
	q.r.unlock(q.r.clock)
	if v, err := q.Get(ctx); err != nil || v != 8 {
		t.Fatalf("Get after unlock = %d, %v", v, err)
	}
}

// TestQueueLockOfReusedPid: the queue's locks held by a dead process whose pid is now another
// live process's are taken over; held by that live process, they are not.
func TestQueueLockOfReusedPid(t *testing.T) {
	live, reused := stranger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := NewQueue[int](0)
	if err != nil {
		t.Fatal(err)
	}
	q.Put(ctx, 7)
	atomic.StoreUint64(lockAt(q.r.clock), uint64(reused)|lockContended)
	if v, err := q.Get(ctx); err != nil || v != 7 {
		t.Fatalf("Get with the consumer lock of a dead process whose pid was reused = %d, %v", v, err)
	}
	atomic.StoreUint64(lockAt(q.r.plock), uint64(reused))
	if err := q.Put(ctx, 8); err != nil {
		t.Fatalf("Put with the producer lock of a dead process whose pid was reused: %v", err)
	}
	for _, l := range []*uint32{q.r.clock, q.r.plock} {
		atomic.StoreUint64(lockAt(l), uint64(live))
	}
	short, cancel2 := context.WithTimeout(ctx, 3*lockProbe)
	defer cancel2()
	if _, err := q.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get while a live process holds the consumer lock: %v; want the ctx's deadline", err)
	}
	if err := q.Put(short, 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put while a live process holds the producer lock: %v; want the ctx's deadline", err)
	}
	q.r.unlock(q.r.clock)
	q.r.unlock(q.r.plock)
	if v, err := q.Get(ctx); err != nil || v != 8 {
		t.Fatalf("Get after unlock = %d, %v", v, err)
	}
}

// TestQueueCountsExact checks that Stats' totals are exact across the 32-bit wrap of the tail and
// head counts, and when the 64-bit totals lag their words (a process killed between its commit and
// the addition).
func TestQueueCountsExact(t *testing.T) {
	q, err := NewQueue[int](0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	r := q.r
	// Start both counts two short of the wrap: the ring is empty, so the offsets stay.
	const start = 1<<32 - 2
	atomic.StoreUint64(r.tail, uint64(uint32(start))<<32)
	atomic.StoreUint64(r.head, uint64(uint32(start))<<32)
	atomic.StoreUint64(r.puts, start)
	atomic.StoreUint64(r.gets, start)
	ctx := context.Background()
	for i := range 5 {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Puts != start+5 || st.Gets != start+1 || st.Len != 4 {
		t.Fatalf("Stats across the wrap = %+v; want Puts %d, Gets %d, Len 4", st, uint64(start+5), uint64(start+1))
	}
	// Three producers and two consumers killed after their commits: the totals lag.
	atomic.AddUint64(r.puts, ^uint64(2))
	atomic.AddUint64(r.gets, ^uint64(1))
	if st := q.Stats(); st.Puts != start+5 || st.Gets != start+1 {
		t.Fatalf("Stats with lagging totals = %+v; want Puts %d, Gets %d", st, uint64(start+5), uint64(start+1))
	}
	for _, c := range []struct {
		total uint64
		low   uint32
		want  uint64
	}{{0, 0, 0}, {5, 7, 7}, {1<<32 - 1, 1, 1<<32 + 1}, {1 << 32, 1<<32 - 1, 1<<32 - 1}, {3<<32 + 10, 12, 3<<32 + 12}} {
		if got := nearest(c.total, c.low); got != c.want {
			t.Errorf("nearest(%d, %d) = %d; want %d", c.total, c.low, got, c.want)
		}
	}
}
