// Command queue_basics walks through the API of Python's multiprocessing.Queue — put, get, full,
// empty, put_nowait, get_nowait — on an mp.Queue. Run it and each call prints what it returned:
// a queue of capacity 3 fills up, refuses a fourth value at once or after a timeout, gives its
// values back in the order they were put, and refuses a Get when empty. An mp.Queue, like
// Python's, is safe to share between processes and keeps its values in first-in, first-out order.
//
//	Python                         Go
//	q = Queue(3)                   q, err := mp.NewQueue[string](3)
//	q.put(v), q.get()              q.Put(ctx, v), q.Get(ctx): wait for room or a value, or ctx's end
//	q.put(v, timeout=t)            Put with a ctx that has a deadline (context.DeadlineExceeded)
//	q.put_nowait(v)                q.TryPut(v): mp.ErrQueueFull (Python's queue.Full)
//	q.get_nowait()                 q.TryGet(): mp.ErrQueueEmpty (Python's queue.Empty)
//	q.qsize(), q.full(), q.empty() q.Len(), q.Len() == q.Cap(), q.Len() == 0
//
// Len is exact, but, as Python's qsize, full and empty, out of date as soon as another process
// puts or gets. Then the same queue between processes: a child gets what the main process puts,
// in order, while the main process's Put waits for room. Last, Close, which Python's queue lacks
// (its close is per process): every process sees it, Put fails, and Get drains what is left.
//
//	go run ./examples/queue_basics
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// GetArg tells the child how many values to take.
type GetArg struct {
	Q *mp.Queue[int]
	N int
}

// Getter takes N values from the queue and prints them.
var Getter = mp.Register("queue_basics.getter", func(ctx context.Context, a GetArg) (struct{}, error) {
	for range a.N {
		v, err := a.Q.Get(ctx)
		if err != nil {
			return struct{}{}, err
		}
		fmt.Printf("child pid=%d ppid=%d: Get() = %d\n", os.Getpid(), os.Getppid(), v)
	}
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	fmt.Println("== put, get, full, empty, put_nowait, get_nowait ==")
	q, err := mp.NewQueue[string](3) // q = Queue(3)
	if err != nil {
		log.Fatal(err)
	}
	show(q)
	for _, v := range []string{"a", "b", "c"} {
		if err := q.Put(ctx, v); err != nil { // q.put(v)
			log.Fatal(err)
		}
	}
	fmt.Println("put a, b, c")
	show(q)
	err = q.TryPut("d") // q.put_nowait('d')
	fmt.Printf("TryPut(d): %v; errors.Is(err, mp.ErrQueueFull) = %t\n", err, errors.Is(err, mp.ErrQueueFull))
	err = timeout(ctx, func(ctx context.Context) error { return q.Put(ctx, "d") }) // q.put('d', timeout=0.1)
	fmt.Printf("Put(d) with a timeout: %v\n", err)
	for range 3 {
		v, err := q.Get(ctx) // q.get()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("Get() = %s\n", v)
	}
	show(q)
	_, err = q.TryGet() // q.get_nowait()
	fmt.Printf("TryGet(): %v; errors.Is(err, mp.ErrQueueEmpty) = %t\n", err, errors.Is(err, mp.ErrQueueEmpty))
	err = timeout(ctx, func(ctx context.Context) error { _, err := q.Get(ctx); return err }) // q.get(timeout=0.1)
	fmt.Printf("Get() with a timeout: %v\n", err)

	fmt.Println("== between processes ==")
	nums, err := mp.NewQueue[int](3)
	if err != nil {
		log.Fatal(err)
	}
	const n = 6
	p := mp.NewProcess(Getter, GetArg{Q: nums, N: n})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main pid=%d: started the child (pid %d); putting 1..%d on a queue of capacity %d\n", os.Getpid(), p.Pid(), n, nums.Cap())
	for i := 1; i <= n; i++ {
		if err := nums.Put(ctx, i); err != nil { // waits while the queue holds 3 values
			log.Fatal(err)
		}
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main: all %d put and taken; Len()=%d\n", n, nums.Len())

	fmt.Println("== Shutdown ==")
	for _, v := range []string{"x", "y"} {
		if err := q.Put(ctx, v); err != nil {
			log.Fatal(err)
		}
	}
	if err := q.Shutdown(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("put x, y, then Shutdown(): IsShutdown()=%t Len()=%d\n", q.IsShutdown(), q.Len())
	err = q.Put(ctx, "z")
	fmt.Printf("Put(z): %v; errors.Is(err, mp.ErrClosed) = %t\n", err, errors.Is(err, mp.ErrClosed))
	for {
		v, err := q.Get(ctx)
		if err != nil {
			fmt.Printf("Get(): %v; errors.Is(err, mp.ErrClosed) = %t\n", err, errors.Is(err, mp.ErrClosed))
			break
		}
		fmt.Printf("Get() = %s\n", v)
	}
}

// show prints the queue's size and Python's full() and empty().
func show(q *mp.Queue[string]) {
	fmt.Printf("%v: Len()=%d full=%t empty=%t\n", q, q.Len(), q.Len() == q.Cap(), q.Len() == 0)
}

// timeout runs f with a ctx that ends after 100ms.
func timeout(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	return f(ctx)
}
