//go:build unix

package mp_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"time"

	"github.com/mp-go/mp"
)

// Pow takes two arguments as one Pair and returns two values as another.
var Pow = mp.Register("example.pow", func(ctx context.Context, p mp.Pair[float64, int]) (mp.Pair[float64, string], error) {
	v := math.Pow(p.A, float64(p.B))
	return mp.MakePair(v, fmt.Sprintf("%g^%d", p.A, p.B)), nil
})

// Python's pool.starmap(pow, [(2, 10), (3, 2)]): the arguments of each call as a Pair (or a
// Triple), and a tuple result the same way.
func ExamplePair() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	rs, err := mp.Map(ctx, p, Pow, []mp.Pair[float64, int]{{2, 10}, mp.MakePair(3.0, 2)})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Println(r.B, "=", r.A)
	}
	// Output:
	// 2^10 = 1024
	// 3^2 = 9
}

// Python's pool.map_async(cube, range(5)): Map in the background, as a future.
func ExampleMapAsync() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	fut := mp.MapAsync(ctx, p, Cube, []int{0, 1, 2, 3, 4})
	// ... other work ...
	cubes, err := fut.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cubes)
	// Output: [0 1 8 27 64]
}

// Python's concurrent.futures.wait(fs, timeout=60, return_when=FIRST_COMPLETED).
func ExampleWait() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	futs := []*mp.Future[int]{mp.Submit(ctx, p, Cube, 2), mp.Submit(ctx, p, Cube, 3)}
	wctx, cancel := context.WithTimeout(ctx, time.Minute) // the timeout
	defer cancel()
	done, notDone, err := mp.Wait(wctx, mp.AllCompleted, futs...)
	if err != nil { // context.DeadlineExceeded: Python's wait would return the split silently
		log.Fatal(err)
	}
	fmt.Println(len(done), "done,", len(notDone), "not done")
	for _, f := range done {
		v, _ := f.Wait(ctx)
		fmt.Println(v)
	}
	// Output:
	// 2 done, 0 not done
	// 8
	// 27
}
