// Command pool_callback runs ten tasks on a pool of three workers with a callback for each. Run it
// and the main process prints its pid, then "end" right after submitting, long before any task is
// done. Then each task prints the pid of the worker it runs in, and its callback prints
// "-->exec done:", the task's value and the main process's pid: callbacks run in the main
// process. Ten tasks of 2 s on three workers take four rounds, 8 s, against 20 s one after the
// other; the last line says so.
//
// It mirrors Python's
//
//	pool = Pool(3)
//	for i in range(10):
//	    pool.apply_async(func=foo, args=(i,), callback=call)
//	print("end")
//	pool.close()
//	pool.join()
//
// In Go, mp.Submit is apply_async, Future.OnDone registers the callback (it also gets the error,
// as Python's error_callback does), and pool.Shutdown is close() followed by join().
//
//	go run ./examples/pool_callback              # foo sleeps 2 s
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

// Args is foo's argument: the task's number, and how long foo sleeps.
type Args struct {
	I     int
	Sleep time.Duration
}

// Foo is Python's foo(i): it sleeps, prints the pid of its worker, and returns i+100.
var Foo = mp.Register("pool_callback.foo", func(ctx context.Context, a Args) (int, error) {
	time.Sleep(a.Sleep)
	fmt.Printf("in the process pid=%d ppid=%d (foo(%d))\n", os.Getpid(), os.Getppid(), a.I) // print("in the process", os.getpid())
	return a.I + 100, nil
})

// call is Python's call(arg): the callback, run by the main process.
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
	fmt.Printf("main process pid=%d\n", os.Getpid()) // print("main process pid:", os.getpid())
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
