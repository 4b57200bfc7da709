// Command executor is seed 002 §1.5.2, concurrent.futures: a ProcessPoolExecutor takes tasks
// with submit(fn, arg), which returns a Future at once, and shutdown(wait=True) waits until every
// task is done before the main process goes on. In Go the executor is an *mp.Pool: mp.Submit
// returns an *mp.Future, and pool.Shutdown is shutdown(wait=True). Two more of the module's
// staples follow: as_completed (mp.AsCompleted), which yields futures in the order they finish,
// and shutdown(cancel_futures=True) (mp.CancelPending), which drops the tasks not yet started.
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
	for f, err := range mp.AsCompleted(ctx, futs) {
		if err != nil {
			log.Fatal(err)
		}
		d, err := f.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
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
