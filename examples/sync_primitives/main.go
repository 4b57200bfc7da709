// Command sync_primitives shows, each between real processes, the synchronisation primitives that
// Python's multiprocessing has besides Lock, the same as threading's: Event, Semaphore, Condition
// and Barrier. Run it and each part prints what the children did while the primitive held them:
//
//   - mp.Event (multiprocessing.Event): three children wait until the main process sets it;
//   - mp.Semaphore (multiprocessing.Semaphore(2)): of five children, at most two are inside at
//     once; a shared mp.Value counts those inside and records the most there ever were;
//   - mp.Cond (multiprocessing.Condition): two consumers wait on a condition over an mp.Mutex
//     until the producer (the main process) puts items and broadcasts;
//   - mp.Barrier (multiprocessing.Barrier(3)): three parties wait for each other; each gets its
//     arrival index, 0, 1 or 2.
//
// Like every mp handle, a primitive is passed to a child in its argument, and the child uses the
// same object in shared memory. No step waits on a timer: the main process watches shared
// counters to know when the children are where the lesson needs them.
//
//	go run ./examples/sync_primitives
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// EventArg is what an event waiter gets.
type EventArg struct {
	Event   *mp.Event
	Waiting *mp.Value[int64] // how many children are about to wait
}

// EventWaiter waits until the event is set.
var EventWaiter = mp.Register("sync_primitives.event", func(ctx context.Context, a EventArg) (struct{}, error) {
	fmt.Printf("event: child %d waits for the event (IsSet()=%t)\n", os.Getpid(), a.Event.IsSet())
	a.Waiting.Add(1)
	if err := a.Event.Wait(ctx); err != nil { // event.wait()
		return struct{}{}, err
	}
	fmt.Printf("event: child %d: the event is set, going on\n", os.Getpid())
	return struct{}{}, nil
})

// SemArg is what a semaphore user gets.
type SemArg struct {
	Sem     *mp.Semaphore
	Inside  *mp.Value[int64] // children holding the semaphore now
	Max     *mp.Value[int64] // the most there ever were
	Release *mp.Event        // set by the main process once it has seen the semaphore full
}

// SemUser acquires the semaphore, counts itself in, waits for the main process's go, and leaves.
var SemUser = mp.Register("sync_primitives.semaphore", func(ctx context.Context, a SemArg) (struct{}, error) {
	if err := a.Sem.Acquire(ctx, 1); err != nil { // sem.acquire()
		return struct{}{}, err
	}
	n := a.Inside.Add(1)
	for m := a.Max.Load(); n > m && !a.Max.CompareAndSwap(m, n); m = a.Max.Load() {
	}
	fmt.Printf("semaphore: child %d is in (inside=%d)\n", os.Getpid(), n)
	err := a.Release.Wait(ctx)
	a.Inside.Add(-1)
	fmt.Printf("semaphore: child %d leaves\n", os.Getpid())
	if rerr := a.Sem.Release(1); err == nil { // sem.release()
		err = rerr
	}
	return struct{}{}, err
})

// CondArg is what a consumer gets: the condition (which brings its mutex along, as Cond.L) and
// the shared state the mutex guards.
type CondArg struct {
	Cond    *mp.Cond
	Items   *mp.Value[int64] // guarded by Cond.L
	Waiting *mp.Value[int64] // consumers that found no item; guarded by Cond.L
}

// Consumer takes one item, waiting on the condition while there is none.
var Consumer = mp.Register("sync_primitives.consumer", func(ctx context.Context, a CondArg) (struct{}, error) {
	if err := a.Cond.L.Lock(ctx); err != nil { // with cond:
		return struct{}{}, err
	}
	defer a.Cond.L.Unlock()
	for a.Items.Load() == 0 { // while not items:
		fmt.Printf("condition: consumer %d: no item; waiting on the condition\n", os.Getpid())
		a.Waiting.Add(1)
		if err := a.Cond.Wait(ctx); err != nil { // cond.wait()
			return struct{}{}, err
		}
		a.Waiting.Add(-1)
	}
	left := a.Items.Add(-1)
	fmt.Printf("condition: consumer %d: woke up and took an item; %d left\n", os.Getpid(), left)
	return struct{}{}, nil
})

// BarrierArg is what a party of the barrier gets.
type BarrierArg struct {
	Barrier *mp.Barrier
}

// Party waits at the barrier and prints its arrival index.
var Party = mp.Register("sync_primitives.barrier", func(ctx context.Context, a BarrierArg) (int, error) {
	fmt.Printf("barrier: party %d arrives\n", os.Getpid())
	i, err := a.Barrier.Wait(ctx) // i = barrier.wait()
	if err != nil {
		return 0, err
	}
	fmt.Printf("barrier: party %d passed with arrival index %d\n", os.Getpid(), i)
	return i, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()
	fmt.Printf("main pid=%d\n", os.Getpid())

	fmt.Println("== Event ==")
	event, err := mp.NewEvent() // event = multiprocessing.Event()
	check(err)
	waiting := value()
	ps := start(ctx, 3, EventWaiter, EventArg{Event: event, Waiting: waiting})
	until(func() bool { return waiting.Load() == 3 })
	fmt.Printf("event: main: %d children wait; IsSet()=%t; setting the event\n", waiting.Load(), event.IsSet())
	check(event.Set()) // event.set()
	wait(ctx, ps)
	fmt.Printf("event: main: the children are done; IsSet()=%t\n", event.IsSet())

	fmt.Println("== Semaphore ==")
	sem, err := mp.NewSemaphore(2) // sem = multiprocessing.Semaphore(2)
	check(err)
	release, err := mp.NewEvent()
	check(err)
	inside, most := value(), value()
	ps = start(ctx, 5, SemUser, SemArg{Sem: sem, Inside: inside, Max: most, Release: release})
	until(func() bool { return inside.Load() == 2 })
	fmt.Printf("semaphore: main: %d children are in, Value()=%d, TryAcquire(1)=%t: the others wait in Acquire; letting them go\n",
		inside.Load(), sem.Value(), sem.TryAcquire(1))
	check(release.Set())
	wait(ctx, ps)
	fmt.Printf("semaphore: main: 5 children used a Semaphore(2); max concurrent = %d; Value()=%d\n", most.Load(), sem.Value())

	fmt.Println("== Condition ==")
	mu, err := mp.NewMutex()
	check(err)
	cond, err := mp.NewCond(mu) // cond = multiprocessing.Condition(lock)
	check(err)
	items, waiting := value(), value()
	ps = start(ctx, 2, Consumer, CondArg{Cond: cond, Items: items, Waiting: waiting})
	until(func() bool { return waiting.Load() == 2 })
	check(mu.Lock(ctx)) // with cond:
	fmt.Printf("condition: main: %d consumers wait; putting 2 items and broadcasting\n", waiting.Load())
	items.Store(2)
	check(cond.Broadcast()) // cond.notify_all()
	mu.Unlock()
	wait(ctx, ps)
	fmt.Printf("condition: main: the consumers are done; %d items left\n", items.Load())

	fmt.Println("== Barrier ==")
	barrier, err := mp.NewBarrier(3) // barrier = multiprocessing.Barrier(3)
	check(err)
	ps = start(ctx, 3, Party, BarrierArg{Barrier: barrier})
	wait(ctx, ps)
	fmt.Println("barrier: main: the three parties are done")
}

// value returns a new shared int64 counter at 0.
func value() *mp.Value[int64] {
	v, err := mp.NewValue[int64](0)
	check(err)
	return v
}

// until waits for cond to hold, watching shared memory.
func until(cond func() bool) {
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

func start[T, R any](ctx context.Context, n int, f *mp.Func[T, R], arg T) []*mp.Process {
	var ps []*mp.Process
	for range n {
		p := mp.NewProcess(f, arg)
		check(p.Start(ctx))
		ps = append(ps, p)
	}
	return ps
}

func wait(ctx context.Context, ps []*mp.Process) {
	for _, p := range ps {
		check(p.Wait(ctx))
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
