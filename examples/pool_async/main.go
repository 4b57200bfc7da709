// Command pool_async submits tasks to a pool with mp.Submit, Python's pool.apply_async, in two
// parts.
//
// First, apply_async and get: a hundred tasks are submitted at once, and the main process says how
// few are done by the time it has submitted them all; then it waits for each result in turn and
// prints it. Python's apply_async returns a result object at once, and its get() waits for the
// value; in Go, Submit returns a *mp.Future, and its Wait is get():
//
//	result_lst = []
//	for i in range(100):  # wahaha(i) prints i and returns '*'*i
//	    result_lst.append(p.apply_async(func=wahaha, args=(i,)))
//	for res in result_lst:
//	    print(res.get())
//
// Second, callbacks, in the main process: three tasks each print the pid of the worker they run
// in, and each one's callback prints the main process's pid with the result, or with the error for
// the third, which fails. Python's apply_async(..., callback=callb) runs callb in the main process
// too. In Go, Future.OnDone is the callback, and also Python's error_callback: it gets the error,
// and errors.Is matches a registered sentinel error that crossed from the worker.
//
//	go run ./examples/pool_async
//	go run ./examples/pool_async -n 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/mp-go/mp"
)

// Stars is the first part's wahaha(num): print num, return num*'*'.
var Stars = mp.Register("pool_async.stars", func(ctx context.Context, num int) (string, error) {
	fmt.Println(num)
	return strings.Repeat("*", num), nil
})

// ErrNegative is the error of Power for a negative number; registered, so that errors.Is
// matches it in the main process.
var ErrNegative = mp.RegisterError("pool_async.negative", errors.New("negative exponent"))

// Power is the second part's wahaha(num): print the worker's pid, return num**num.
var Power = mp.Register("pool_async.power", func(ctx context.Context, num int) (int, error) {
	fmt.Printf("child process: pid=%d ppid=%d computing %d**%d\n", os.Getpid(), os.Getppid(), num, num)
	if num < 0 {
		return 0, fmt.Errorf("wahaha(%d): %w", num, ErrNegative)
	}
	r := 1
	for range num {
		r *= num
	}
	return r, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	n := flag.Int("n", 100, "the first part submits wahaha(i) for i in range(n)")
	flag.Parse()
	ctx := context.Background()

	fmt.Println("== apply_async and get ==")
	pool, err := mp.NewPool(ctx, mp.WithWorkers(5)) // p = Pool(5)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	var results []*mp.Future[string] // result_lst
	for i := range *n {
		res := mp.Submit(ctx, pool, Stars, i) // res = p.apply_async(func=wahaha, args=(i,))
		results = append(results, res)
	}
	fmt.Printf("main: submitted %d tasks: %d futures, %d done so far\n", len(results), len(results), countDone(results))
	for _, res := range results {
		s, err := res.Wait(ctx) // print(j.get())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("get: %q\n", s)
	}
	if err := pool.Shutdown(ctx); err != nil { // p.close(); p.join()
		log.Fatal(err)
	}
	fmt.Printf("main: %d results in %.3fs\n", len(results), time.Since(start).Seconds())

	fmt.Println("== callback, in the main process ==")
	fmt.Printf("main process: pid=%d\n", os.Getpid())
	pool, err = mp.NewPool(ctx, mp.WithWorkers(5))
	if err != nil {
		log.Fatal(err)
	}
	for _, num := range []int{1, 5, -2} {
		// p.apply_async(func=wahaha, args=(1,), callback=callb, error_callback=...)
		mp.Submit(ctx, pool, Power, num).OnDone(func(v int, err error) {
			if err != nil {
				fmt.Printf("callback: pid=%d got an error: %v (errors.Is(err, ErrNegative) = %t)\n",
					os.Getpid(), err, errors.Is(err, ErrNegative))
				return
			}
			fmt.Printf("callback: pid=%d got %d**%d = %d\n", os.Getpid(), num, num, v)
		})
	}
	// p.close(); p.join(): Shutdown returns once every task is done and every callback has run.
	if err := pool.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("main: pool shut down")
}

// countDone returns how many of futs are done.
func countDone[R any](futs []*mp.Future[R]) int {
	n := 0
	for _, f := range futs {
		select {
		case <-f.Done():
			n++
		default:
		}
	}
	return n
}
