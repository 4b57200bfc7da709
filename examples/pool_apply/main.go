// Command pool_apply submits tasks to a pool of five workers with mp.Apply, Python's
// pool.apply. Run it and ten tasks run one after the other, each in a worker whose pid it prints:
// Apply waits for its task's result before it returns, so the pool's other workers stay idle, and
// the ten tasks take ten sleeps. Then the same ten tasks go through mp.Submit, Python's
// apply_async, and take two rounds of five: the last line says how much slower Apply was.
//
// It mirrors Python's
//
//	pool = Pool(5)
//	for i in range(10):
//	    res = pool.apply(func=foo, args=(i,))  # blocks until foo(i) has returned
//
//	go run ./examples/pool_apply              # foo sleeps 2 s
//	go run ./examples/pool_apply -sleep 100ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"time"

	"github.com/mp-go/mp"
)

// Args is foo's argument: the task's number, and how long foo sleeps.
type Args struct {
	I     int
	Sleep time.Duration
}

// Foo is Python's foo(i): it sleeps, prints the pid of the worker it runs in, and returns i+100.
var Foo = mp.Register("pool_apply.foo", func(ctx context.Context, a Args) (int, error) {
	time.Sleep(a.Sleep)
	fmt.Printf("in the process pid=%d ppid=%d: foo(%d)\n", os.Getpid(), os.Getppid(), a.I)
	return a.I + 100, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	sleep := flag.Duration("sleep", 2*time.Second, "how long foo sleeps")
	workers := flag.Int("workers", 5, "worker processes in the pool: Python's Pool(5)")
	n := flag.Int("n", 10, "tasks to submit")
	flag.Parse()
	ctx := context.Background()

	pool, err := mp.NewPool(ctx, mp.WithWorkers(*workers)) // pool = Pool(5)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main process pid=%d; pool of %d workers: %v\n", os.Getpid(), pool.Workers(), slices.Sorted(slices.Values(pool.Pids())))

	fmt.Println("== apply: synchronous, one task after the other ==")
	start := time.Now()
	for i := range *n {
		v, err := mp.Apply(ctx, pool, Foo, Args{I: i, Sleep: *sleep}) // pool.apply(func=foo, args=(i,))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("apply(foo, %d) returned %d\n", i, v)
	}
	serial := time.Since(start)
	fmt.Printf("%d applies took %.3fs: %.1f sleeps of %v each, one at a time\n",
		*n, serial.Seconds(), serial.Seconds()/sleep.Seconds(), *sleep)

	fmt.Println("== Submit (apply_async), for comparison: all at once ==")
	start = time.Now()
	futs := make([]*mp.Future[int], *n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, pool, Foo, Args{I: i, Sleep: *sleep})
	}
	for i, fut := range futs {
		v, err := fut.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("Submit(foo, %d) returned %d\n", i, v)
	}
	async := time.Since(start)
	fmt.Printf("%d submits took %.3fs: %.1f sleeps of %v each, %d at a time\n",
		*n, async.Seconds(), async.Seconds()/sleep.Seconds(), *sleep, pool.Workers())

	// pool.close() then pool.join(): refuse new tasks, let the queued ones finish, wait for the
	// workers to exit.
	if err := pool.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("pool shut down; apply was %.1fx as slow as Submit\n", serial.Seconds()/async.Seconds())
}
