// Command dashboard serves mp's web dashboard over a pool doing work: tasks that take a few
// milliseconds to a few seconds, some of which fail and some of which panic, so that every view
// has something to show. Open the address it prints; it stops by itself after -for.
//
//	go run ./examples/dashboard -addr 127.0.0.1:8080 -for 5m
//
// The pages show each worker's pid, task and memory, why the last worker ended, throughput and
// duration charts, the recent failures with their stacks, and the Map in progress; the buttons
// cancel a task (its worker is killed if it does not stop), recycle a worker, or pause the pool.
// The Prometheus metrics are at /metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/dashboard"
)

// ErrUnlucky is the error every thirteenth task returns, so the failures view has entries with
// an identity.
var ErrUnlucky = mp.RegisterError("dashboard.unlucky", errors.New("unlucky number"))

// Work sleeps for a while: a few milliseconds, and a few seconds for every fiftieth n, so that
// there is something to cancel.
var Work = mp.Register("dashboard.work", func(ctx context.Context, n int) (int, error) {
	d := time.Duration(5+rand.IntN(40)) * time.Millisecond
	if n%50 == 49 {
		d = 3 * time.Second
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return n * n, nil
})

// Flaky fails for a third of its calls and panics for a tenth, for the failures view; and one
// call in 25 ends its worker with os.Exit(3), so the workers view shows a replacement and why.
var Flaky = mp.Register("dashboard.flaky", func(ctx context.Context, n int) (int, error) {
	switch {
	case n%25 == 24:
		os.Exit(3)
	case n%10 == 9:
		panic(fmt.Sprintf("call %d panicked on purpose", n))
	case n%3 == 2:
		return 0, fmt.Errorf("call %d: %w", n, ErrUnlucky)
	}
	return n, nil
})

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve the dashboard at (host:port; port 0 picks one)")
	dur := flag.Duration("for", 20*time.Second, "how long to run before exiting")
	workers := flag.Int("workers", 3, "workers in the pool")
	flag.Parse()
	mp.Main(func(ctx context.Context) error { return run(ctx, *addr, *dur, *workers) })
}

func run(ctx context.Context, addr string, dur time.Duration, workers int) error {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	p, err := mp.NewPool(ctx, mp.WithWorkers(workers), mp.WithPoolName("work"))
	if err != nil {
		return err
	}
	defer p.Close()
	jobs, err := mp.NewQueue[int](100)
	if err != nil {
		return err
	}
	defer jobs.Close()

	d := dashboard.New()
	d.AddPool(p)
	d.AddQueue("jobs", jobs)
	served := make(chan error, 1)
	go func() { served <- dashboard.ListenAndServe(ctx, addr, d, dashboard.WithLog(os.Stdout)) }()

	// Keep the pool busy until ctx ends: Maps of 200 tasks, a queue that fills and drains, and
	// a call that often fails every 200ms.
	flaky := make(chan struct{})
	go func() {
		defer close(flaky)
		for n := 0; ctx.Err() == nil; n++ {
			mp.Apply(ctx, p, Flaky, n) // its failures are the point: the dashboard shows them
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	for batch := 0; ctx.Err() == nil; batch++ {
		xs := make([]int, 200)
		for i := range xs {
			xs[i] = batch*200 + i
			jobs.TryPut(i)
		}
		if _, err := mp.Map(ctx, p, Work, xs, mp.WithChunkSize(1)); err != nil && ctx.Err() == nil {
			fmt.Println("map:", err) // a task cancelled from the dashboard ends its Map
		}
		for range 150 {
			if _, err := jobs.TryGet(); err != nil {
				break
			}
		}
	}
	<-flaky
	if err := <-served; err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}
