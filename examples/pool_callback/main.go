// Command pool_callback is seed 002 §1.3: a pool of three processes, Pool(3), runs foo(i) for
// i in range(10) with apply_async and callback=call. foo sleeps 2 s, prints the pid of the
// worker it runs in and returns i+100; call(arg) prints "-->exec done:", the value and
// os.getpid() — the main process's pid, as the callback runs in the main process. The main
// process prints its pid first and 'end' right after submitting, long before any task is done;
// close() and join() then wait for the tasks. Ten tasks of 2 s on three workers take four rounds,
// 8 s, against 20 s one after the other.
//
//	go run ./examples/pool_callback              # foo sleeps 2 s, as in the seed
//	go run ./examples/pool_callback -sleep 100ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Args is foo's argument: the seed's i, and how long foo sleeps.
type Args struct {
	I     int
	Sleep time.Duration
}

// Foo is the seed's foo(i).
var Foo = mp.Register("pool_callback.foo", func(ctx context.Context, a Args) (int, error) {
	time.Sleep(a.Sleep)
	fmt.Printf("in the process pid=%d ppid=%d (foo(%d))\n", os.Getpid(), os.Getppid(), a.I) // print("in the process", os.getpid())
	return a.I + 100, nil
})

// call is the seed's call(arg): the callback, run by the main process.
func call(arg int, err error) {
	if err != nil {
		fmt.Printf("-->exec failed: %v pid=%d\n", err, os.Getpid())
		return
	}
	fmt.Printf("-->exec done: %d pid=%d\n", arg, os.Getpid()) // print('-->exec done:', arg, os.getpid())
}

func main() {
	mp.Init()
	defer mp.Cleanup()

	sleep := flag.Duration("sleep", 2*time.Second, "how long foo sleeps")
	n := flag.Int("n", 10, "tasks to submit")
	flag.Parse()
	ctx := context.Background()

	start := time.Now()
	pool, err := mp.NewPool(ctx, mp.WithWorkers(3)) // pool = Pool(3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main process pid=%d\n", os.Getpid()) // print("主进程pid:", os.getpid())
	for i := range *n {
		// pool.apply_async(func=foo, args=(i,), callback=call)
		mp.Submit(ctx, pool, Foo, Args{I: i, Sleep: *sleep}).OnDone(call)
	}
	fmt.Println("end")
	// pool.close(); pool.join(): let the tasks finish, and their callbacks run, then end the
	// workers.
	if err := pool.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	took := time.Since(start)
	rounds := (*n + pool.Workers() - 1) / pool.Workers()
	fmt.Printf("%d tasks of %v on %d workers took %.3fs: %.1f sleeps (%d rounds of %d; one after the other: %d)\n",
		*n, *sleep, pool.Workers(), took.Seconds(), took.Seconds()/sleep.Seconds(), rounds, pool.Workers(), *n)
}
