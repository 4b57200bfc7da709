// Command executor uses an mp pool the way Python's concurrent.futures uses a
// ProcessPoolExecutor, in three parts. Run it and you see: eight tasks submitted in an instant,
// none done yet, then Shutdown returning once all are done, and their results; three tasks
// submitted slowest first, reported in the order they finish; and five tasks on one worker, where
// Shutdown with mp.CancelPending lets the running task finish and cancels the four not started.
//
// It mirrors Python's
//
//	pool = ProcessPoolExecutor(4)
//	futures = [pool.submit(task, i) for i in range(8)]
//	pool.shutdown(wait=True)  # returns when every task is done
//	for f in as_completed(futures): ...
//	pool.shutdown(cancel_futures=True)
//
// In Go the executor is an *mp.Pool: mp.Submit returns an *mp.Future at once, pool.Shutdown is
// shutdown(wait=True), mp.AsCompleted is as_completed, and mp.CancelPending is
// cancel_futures=True.
//
//	go run ./examples/executor              # tasks sleep 1 to 3 s at random
//	go run ./examples/executor -unit 100ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Job is a task's argument: its number, how many units it sleeps, and the length of a unit.
type Job struct {
	ID    int
	Units int
	Unit  time.Duration
}

// Done is a task's result: which task, in which process, and its square.
type Done struct {
	ID     int
	Pid    int
	Square int
}

// Task sleeps its units, then returns the square of its number.
var Task = mp.Register("executor.task", func(ctx context.Context, j Job) (Done, error) {
	fmt.Printf("    task %d: pid=%d, sleeping %d units\n", j.ID, os.Getpid(), j.Units)
	select {
	case <-time.After(time.Duration(j.Units) * j.Unit):
	case <-ctx.Done():
		return Done{}, ctx.Err()
	}
	return Done{ID: j.ID, Pid: os.Getpid(), Square: j.ID * j.ID}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	unit := flag.Duration("unit", time.Second, "tasks sleep 1 to 3 units")
	n := flag.Int("n", 8, "tasks to submit")
	flag.Parse()
	ctx := context.Background()
	fmt.Printf("main process pid=%d\n", os.Getpid())

	fmt.Println("== submit, then shutdown(wait=True) ==")
	pool, err := mp.NewPool(ctx, mp.WithWorkers(4)) // pool = ProcessPoolExecutor(4)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	futs := make([]*mp.Future[Done], *n)
	for i := range futs {
		futs[i] = mp.Submit(ctx, pool, Task, Job{ID: i, Units: rand.IntN(3) + 1, Unit: *unit}) // pool.submit(task, i)
	}
	fmt.Printf("main: submitted %d tasks in %v; done so far: %d\n", len(futs), time.Since(start).Round(time.Millisecond), countDone(futs))
	if err := pool.Shutdown(ctx); err != nil { // pool.shutdown(wait=True)
		log.Fatal(err)
	}
	fmt.Printf("main: shutdown returned after %.1f units; done: %d of %d\n", time.Since(start).Seconds()/unit.Seconds(), countDone(futs), len(futs))
	for _, f := range futs {
		d, err := f.Wait(ctx) // future.result(): at once, since shutdown waited
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("main: task %d returned %d from pid=%d\n", d.ID, d.Square, d.Pid)
	}

	fmt.Println("== as_completed: results in the order they finish ==")
	pool, err = mp.NewPool(ctx, mp.WithWorkers(3))
	if err != nil {
		log.Fatal(err)
	}
	futs = futs[:0]
	for i, units := range []int{3, 1, 2} { // submitted slowest first
		futs = append(futs, mp.Submit(ctx, pool, Task, Job{ID: i, Units: units, Unit: *unit}))
	}
	for f, err := range mp.AsCompleted(ctx, futs...) {
		if err != nil { // the task's error, or ctx's (with a nil f)
			log.Fatal(err)
		}
		d, _ := f.Wait(ctx) // f is done: Wait returns at once
		fmt.Printf("main: task %d finished\n", d.ID)
	}
	if err := pool.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}

	fmt.Println("== shutdown(cancel_futures=True): tasks not started are cancelled ==")
	pool, err = mp.NewPool(ctx, mp.WithWorkers(1))
	if err != nil {
		log.Fatal(err)
	}
	futs = futs[:0]
	for i := range 5 {
		futs = append(futs, mp.Submit(ctx, pool, Task, Job{ID: i, Units: 1, Unit: *unit}))
	}
	time.Sleep(*unit / 2) // the first task is running
	if err := pool.Shutdown(ctx, mp.CancelPending()); err != nil {
		log.Fatal(err)
	}
	for i, f := range futs {
		_, err := f.Wait(ctx)
		switch {
		case err == nil:
			fmt.Printf("main: task %d ran\n", i)
		case errors.Is(err, context.Canceled):
			fmt.Printf("main: task %d was cancelled before it started\n", i)
		default:
			log.Fatal(err)
		}
	}
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
