//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"

	"github.com/mp-go/mp"
)

// The children of the examples below. Each handle in an argument — a queue, a pipe end, a lock —
// arrives in the child as the same object.
var (
	produce = mp.Register("example.produce", func(ctx context.Context, q *mp.Queue[string]) (struct{}, error) {
		for _, w := range []string{"one", "two", "three"} {
			if err := q.Put(ctx, w); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	consume = mp.Register("example.consume", func(ctx context.Context, q *mp.JoinableQueue[int]) (struct{}, error) {
		for {
			n, err := q.Get(ctx)
			if err != nil {
				return struct{}{}, err
			}
			fmt.Println("done", n)
			q.TaskDone()
		}
	})
	echo = mp.Register("example.echo", func(ctx context.Context, c *mp.Conn[string]) (struct{}, error) {
		for {
			s, err := c.Recv(ctx)
			if err != nil {
				return struct{}{}, nil // io.EOF: the parent closed its end
			}
			if err := c.Send(ctx, "echo: "+s); err != nil {
				return struct{}{}, err
			}
		}
	})
	addUnderLock = mp.Register("example.add_under_lock", func(ctx context.Context, a LockedCount) (struct{}, error) {
		for range 1000 {
			if err := a.M.Lock(ctx); err != nil && !errors.Is(err, mp.ErrOwnerDead) {
				return struct{}{}, err
			}
			a.N.Slice()[0]++ // not atomic: the mutex makes it safe
			a.M.Unlock()
		}
		return struct{}{}, nil
	})
	awaitStart = mp.Register("example.await_start", func(ctx context.Context, a StartArg) (int, error) {
		if err := a.Go.Wait(ctx); err != nil {
			return 0, err
		}
		return a.N * 10, nil
	})
	meet = mp.Register("example.meet", func(ctx context.Context, b *mp.Barrier) (struct{}, error) {
		_, err := b.Wait(ctx)
		return struct{}{}, err
	})
	limited = mp.Register("example.limited", func(ctx context.Context, s *mp.Semaphore) (bool, error) {
		if err := s.Acquire(ctx, 1); err != nil {
			return false, err
		}
		defer s.Release(1)
		return true, nil
	})
	lockAndDie = mp.Register("example.lock_and_die", func(ctx context.Context, m *mp.Mutex) (struct{}, error) {
		if err := m.Lock(ctx); err != nil {
			return struct{}{}, err
		}
		os.Exit(3) // dies holding the lock
		return struct{}{}, nil
	})
	drain = mp.Register("example.drain", func(ctx context.Context, q *mp.Queue[string]) (int, error) {
		n := 0
		for {
			if _, err := q.Get(ctx); errors.Is(err, mp.ErrClosed) {
				return n, nil // shut down, and nothing left
			} else if err != nil {
				return n, err
			}
			n++
		}
	})
	waitForValue = mp.Register("example.wait_for_value", func(ctx context.Context, a CondValue) (int64, error) {
		if err := a.C.L.Lock(ctx); err != nil {
			return 0, err
		}
		defer a.C.L.Unlock()
		for a.V.Load() == 0 { // wait in a loop that checks the condition
			if err := a.C.Wait(ctx); err != nil {
				return 0, err
			}
		}
		return a.V.Load(), nil
	})
	addOnes = mp.Register("example.add_ones", func(ctx context.Context, v *mp.Value[int64]) (struct{}, error) {
		for range 1000 {
			v.Add(1)
		}
		return struct{}{}, nil
	})
	squares = mp.Register("example.squares", func(ctx context.Context, a *mp.Array[int32]) (struct{}, error) {
		for i, x := range a.Slice() {
			a.Slice()[i] = x * x
		}
		return struct{}{}, nil
	})
	fill = mp.Register("example.fill", func(ctx context.Context, name string) (struct{}, error) {
		m, err := mp.OpenSharedMemory(name, 0)
		if err != nil {
			return struct{}{}, err
		}
		defer m.Close()
		copy(m.Bytes(), "written by a child")
		return struct{}{}, nil
	})
)

// LockedCount is a counter in shared memory and the mutex that guards it.
type LockedCount struct {
	M *mp.Mutex
	N *mp.Array[int64]
}

// CondValue is a condition variable and the value it is about; the Cond brings its Mutex along.
type CondValue struct {
	C *mp.Cond
	V *mp.Value[int64]
}

// StartArg is a task that waits for a start signal.
type StartArg struct {
	Go *mp.Event
	N  int
}

// run starts p and waits for it, or stops the example.
func run(ctx context.Context, p *mp.Process) {
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
}

// A child puts values on a queue; the parent gets them in order: Python's multiprocessing.Queue.
func ExampleQueue() {
	ctx := context.Background()
	q, err := mp.NewQueue[string](10)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	run(ctx, mp.NewProcess(produce, q))
	for range 3 {
		w, err := q.Get(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(w)
	}
	// Output:
	// one
	// two
	// three
}

// Shutdown tells every consumer, in every process, that no more values will come: a Get returns
// what is left, then ErrClosed (Python 3.13's Queue.shutdown). Close, by contrast, lets go of
// this process's handle only, and the queue goes on for the others.
func ExampleQueue_Shutdown() {
	ctx := context.Background()
	q, err := mp.NewQueue[string](0)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	for _, w := range []string{"a", "b", "c"} {
		if err := q.Put(ctx, w); err != nil {
			log.Fatal(err)
		}
	}
	if err := q.Shutdown(); err != nil {
		log.Fatal(err)
	}
	n, err := mp.Run(ctx, drain, q) // a child gets until the queue is empty
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the child got", n, "values")
	fmt.Println(errors.Is(q.Put(ctx, "d"), mp.ErrClosed))
	// Output:
	// the child got 3 values
	// true
}

// Join waits until every value put has been marked done by a consumer: Python's JoinableQueue.
func ExampleJoinableQueue() {
	ctx := context.Background()
	q, err := mp.NewJoinableQueue[int](0)
	if err != nil {
		log.Fatal(err)
	}
	worker := mp.NewProcess(consume, q, mp.WithDaemon(true)) // it loops for ever: a daemon
	if err := worker.Start(ctx); err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		if err := q.Put(ctx, i); err != nil {
			log.Fatal(err)
		}
	}
	if err := q.Join(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("all done")
	worker.Terminate()
	worker.Wait(ctx)
	// Output:
	// done 0
	// done 1
	// done 2
	// all done
}

// A child waits, under the Cond's Mutex, until the parent has set a value and signalled:
// Python's multiprocessing.Condition. The Cond brings its Mutex to the child.
func ExampleCond() {
	ctx := context.Background()
	m, err := mp.NewMutex()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	c, err := mp.NewCond(m)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	v, err := mp.NewValue[int64](0)
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	got := make(chan int64, 1)
	go func() {
		n, err := mp.Run(ctx, waitForValue, CondValue{C: c, V: v})
		if err != nil {
			log.Fatal(err)
		}
		got <- n
	}()
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	v.Store(42)
	c.Broadcast() // the child may be waiting already, or not yet: it checks v either way
	m.Unlock()
	fmt.Println("the child saw", <-got)
	// Output:
	// the child saw 42
}

// Two children add to one number in shared memory at once; Add is atomic: Python's
// multiprocessing.Value.
func ExampleValue() {
	ctx := context.Background()
	total, err := mp.NewValue[int64](0)
	if err != nil {
		log.Fatal(err)
	}
	defer total.Close()
	a, b := mp.NewProcess(addOnes, total), mp.NewProcess(addOnes, total)
	for _, p := range []*mp.Process{a, b} {
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}
	for _, p := range []*mp.Process{a, b} {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(total.Load())
	// Output:
	// 2000
}

// A child dies holding the mutex. The next Lock takes it over and returns ErrOwnerDead with the
// mutex locked: repair what it guards, then Unlock. (Python's Lock would wait for ever.) An
// "if err != nil { return err }" here would return holding the lock; check ErrOwnerDead first.
func ExampleMutex_ownerDead() {
	ctx := context.Background()
	m, err := mp.NewMutex()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	_, err = mp.Run(ctx, lockAndDie, m)
	var exit *mp.ExitError
	if !errors.As(err, &exit) {
		log.Fatal(err)
	}
	fmt.Println("the child exited with status", exit.ExitCode())
	err = m.Lock(ctx)
	switch {
	case errors.Is(err, mp.ErrOwnerDead):
		fmt.Println("the holder died; repairing what the mutex guards")
	case err != nil:
		log.Fatal(err)
	}
	m.Unlock()
	fmt.Println("locked now:", m.Locked())
	// Output:
	// the child exited with status 3
	// the holder died; repairing what the mutex guards
	// locked now: false
}

// A child squares the numbers of an array in shared memory, in place; the parent sees them:
// Python's multiprocessing.Array.
func ExampleArray() {
	ctx := context.Background()
	a, err := mp.NewArray[int32](5)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	for i := range a.Slice() {
		a.Slice()[i] = int32(i + 1)
	}
	run(ctx, mp.NewProcess(squares, a))
	fmt.Println(a.Slice())
	// Output:
	// [1 4 9 16 25]
}

// Two ends of a pipe; one goes to a child, which answers each message: Python's Pipe().
func ExamplePipe() {
	ctx := context.Background()
	mine, theirs, err := mp.Pipe[string]()
	if err != nil {
		log.Fatal(err)
	}
	p := mp.NewProcess(echo, theirs)
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	theirs.Close() // the child has its own copy
	for _, s := range []string{"ping", "pong"} {
		if err := mine.Send(ctx, s); err != nil {
			log.Fatal(err)
		}
		reply, err := mine.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply)
	}
	mine.Close() // the child sees io.EOF and returns
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// echo: ping
	// echo: pong
}

// Four processes add to one counter in shared memory under one mutex: no update is lost. A Lock
// that returns ErrOwnerDead holds the mutex: its last holder died holding it, and the caller
// repairs what it guards.
func ExampleMutex() {
	ctx := context.Background()
	m, err := mp.NewMutex()
	if err != nil {
		log.Fatal(err)
	}
	n, err := mp.NewArray[int64](1)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*mp.Process
	for range 4 {
		p := mp.NewProcess(addUnderLock, LockedCount{M: m, N: n})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(n.Slice()[0])
	// Output: 4000
}

// Children wait for an Event that the parent sets: Python's Event.
func ExampleEvent() {
	ctx := context.Background()
	start, err := mp.NewEvent()
	if err != nil {
		log.Fatal(err)
	}
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	a := mp.Submit(ctx, p, awaitStart, StartArg{Go: start, N: 1})
	b := mp.Submit(ctx, p, awaitStart, StartArg{Go: start, N: 2})
	start.Set() // both were waiting, or see it set when they look
	for _, f := range []*mp.Future[int]{a, b} {
		v, err := f.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(v)
	}
	// Output:
	// 10
	// 20
}

// Three children and the parent meet at a barrier; none goes on before all four are there.
func ExampleBarrier() {
	ctx := context.Background()
	b, err := mp.NewBarrier(4)
	if err != nil {
		log.Fatal(err)
	}
	var ps []*mp.Process
	for range 3 {
		p := mp.NewProcess(meet, b)
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	if _, err := b.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("all four met")
	// Output: all four met
}

// A semaphore of one permit lets one task at a time into its section, across processes.
func ExampleSemaphore() {
	ctx := context.Background()
	s, err := mp.NewBoundedSemaphore(1)
	if err != nil {
		log.Fatal(err)
	}
	ok, err := mp.Run(ctx, limited, s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ok, s.Value())
	// Output: true 1
}

// A child writes into a named segment that the parent created: Python's
// shared_memory.SharedMemory.
func ExampleCreateSharedMemory() {
	ctx := context.Background()
	m, err := mp.CreateSharedMemory(fmt.Sprintf("mp-example-%d", os.Getpid()), 64)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Unlink() // named segments stay until unlinked
	defer m.Close()
	run(ctx, mp.NewProcess(fill, m.Name()))
	fmt.Println(string(m.Bytes()[:18]))
	// Output: written by a child
}

// Shutdown lets queued tasks finish, then the workers exit; after it, the pool takes no work.
func ExamplePool_Shutdown() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	futs := make([]*mp.Future[int], 4)
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Cube, i+1)
	}
	if err := p.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	for _, f := range futs {
		v, err := f.Wait(ctx)
		fmt.Println(v, err)
	}
	_, err = mp.Apply(ctx, p, Cube, 5)
	fmt.Println(errors.Is(err, mp.ErrClosed))
	// Output:
	// 1 <nil>
	// 8 <nil>
	// 27 <nil>
	// 64 <nil>
	// true
}

// AsCompleted yields futures as they finish, each once, whatever order they were submitted in.
func ExampleAsCompleted() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	var futs []*mp.Future[int]
	for i := range 4 {
		futs = append(futs, mp.Submit(ctx, p, Cube, i))
	}
	var got []int
	for f, err := range mp.AsCompleted(ctx, futs...) {
		if err != nil { // the task's error, or ctx's (with a nil f)
			log.Fatal(err)
		}
		v, _ := f.Wait(ctx) // f is done: Wait returns at once
		got = append(got, v)
	}
	sort.Ints(got) // the order of completion varies
	fmt.Println(got)
	// Output: [0 1 8 27]
}
