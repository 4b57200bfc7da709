// Command pool_map runs one function over the numbers 0 to 100 on a pool of five workers with
// mp.Map, Python's pool.map. Run it and each task, after sleeping 1 to 3 units at random, prints
// num**num (shortened when long) and its worker's pid, in whatever order the workers finish; a
// progress bar is drawn on standard error. Then the main process checks that the results came
// back in the order of the input, prints a few, how many tasks each worker ran, and how long the
// whole took: about a fifth of the units slept.
//
// It mirrors Python's
//
//	p = Pool(5)
//	p.map(func=wahaha, iterable=range(101))
//	p.close()
//	p.join()
//
// map is the short form of a loop of apply_async followed by close and join; like Python's, mp.Map
// returns the results in the order of the input, however the workers finished.
//
//	go run ./examples/pool_map              # units of 1 s: about 40 s
//	go run ./examples/pool_map -unit 10ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/progress"
)

// Args is wahaha's argument: the number, and the length of a unit of sleep.
type Args struct {
	Num  int
	Unit time.Duration
}

// Result is what wahaha returns: num**num in decimal, and where and how long it slept.
type Result struct {
	Num   int
	Pow   string
	Pid   int
	Slept int // units
}

// Wahaha is Python's wahaha(num): sleep 1 to 3 units at random, print num**num.
var Wahaha = mp.Register("pool_map.wahaha", func(ctx context.Context, a Args) (Result, error) {
	units := rand.IntN(3) + 1 // random.randint(1, 3)
	time.Sleep(time.Duration(units) * a.Unit)
	pow := power(a.Num)
	fmt.Printf("num:%s  (%d**%d, pid=%d)\n", abbrev(pow), a.Num, a.Num, os.Getpid()) // print('num:%s' % num**num)
	return Result{Num: a.Num, Pow: pow, Pid: os.Getpid(), Slept: units}, nil
})

// power returns num**num in decimal: Python's integers have no limit, and neither has big.Int.
func power(num int) string {
	n := big.NewInt(int64(num))
	return new(big.Int).Exp(n, n, nil).String()
}

// abbrev shortens a long number to its first and last digits and its length.
func abbrev(s string) string {
	if len(s) <= 24 {
		return s
	}
	return fmt.Sprintf("%s…%s (%d digits)", s[:8], s[len(s)-8:], len(s))
}

func main() {
	mp.Init()
	defer mp.Cleanup()

	unit := flag.Duration("unit", time.Second, "wahaha sleeps 1 to 3 units")
	n := flag.Int("n", 101, "map over range(n)")
	workers := flag.Int("workers", 5, "worker processes in the pool: Python's Pool(5)")
	flag.Parse()
	ctx := context.Background()

	pool, err := mp.NewPool(ctx, mp.WithWorkers(*workers)) // p = Pool(5)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	fmt.Printf("main process pid=%d; pool of %d workers: %v\n", os.Getpid(), pool.Workers(), slices.Sorted(slices.Values(pool.Pids())))

	args := make([]Args, *n)
	for i := range args {
		args[i] = Args{Num: i, Unit: *unit}
	}
	start := time.Now()
	// p.map(func=wahaha, iterable=range(101)), with a progress bar on standard error.
	results, err := mp.Map(ctx, pool, Wahaha, args, mp.WithProgress(progress.Bar(os.Stderr, progress.WithLabel("wahaha"))))
	if err != nil {
		log.Fatal(err)
	}
	took := time.Since(start)

	inOrder := len(results) == *n
	slept := 0
	pids := map[int]int{}
	for i, r := range results {
		if r.Num != i || r.Pow != power(i) {
			inOrder = false
		}
		slept += r.Slept
		pids[r.Pid]++
	}
	fmt.Printf("map returned %d results, each num**num, in the order of the input: %t\n", len(results), inOrder)
	for _, i := range []int{0, 1, 2, 3, 10, *n - 1} {
		if i >= 0 && i < len(results) {
			fmt.Printf("    results[%d] = %s\n", i, abbrev(results[i].Pow))
		}
	}
	fmt.Printf("tasks per worker: %v\n", pids)
	fmt.Printf("%d tasks slept %d units in all; map took %.1f units on %d workers (%.3fs)\n",
		len(results), slept, took.Seconds()/unit.Seconds(), pool.Workers(), took.Seconds())

	if err := pool.Shutdown(ctx); err != nil { // close() and join()
		log.Fatal(err)
	}
}
