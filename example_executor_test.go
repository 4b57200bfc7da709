//go:build unix

package mp_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mp-go/mp"
)

// sumOfCubes is written once against mp.Executor: it runs unchanged on worker processes and on
// goroutines.
func sumOfCubes(ctx context.Context, ex mp.Executor, n int) (int, error) {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i + 1
	}
	cubes, err := mp.Map(ctx, ex, Cube, xs)
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, c := range cubes {
		sum += c
	}
	return sum, nil
}

// The same code on a pool of worker processes and on a pool of goroutines — Python's Pool and
// ThreadPool (or ProcessPoolExecutor and ThreadPoolExecutor). Only the constructor changes.
// Goroutines share memory and cost less per call; processes can be killed, so a timeout or a
// cancel really stops the work, and a crash takes down one worker, not the program.
func ExampleNewGoroutinePool() {
	ctx := context.Background()

	procs, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer procs.Close()

	goroutines, err := mp.NewGoroutinePool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer goroutines.Close()

	for _, ex := range []mp.Executor{procs, goroutines} {
		sum, err := sumOfCubes(ctx, ex, 10)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%T: %d\n", ex, sum)
	}
	// Output:
	// *mp.Pool: 3025
	// *mp.GoroutinePool: 3025
}
