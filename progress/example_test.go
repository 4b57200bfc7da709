package progress_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/progress"
)

// A bar written to something other than a terminal — here a bytes.Buffer — prints plain lines:
// one per interval of the call's elapsed time, and the last when every item is done.
func ExampleBar() {
	var buf bytes.Buffer
	bar := progress.Bar(&buf, progress.WithWidth(10), progress.WithInterval(time.Second))

	// What mp.Map reports while 1000 items are done at 400 a second, every 100 ms.
	for tick := 1; tick <= 25; tick++ {
		bar(mp.Progress{Done: 40 * tick, Total: 1000, Elapsed: time.Duration(tick) * 100 * time.Millisecond})
	}
	fmt.Print(buf.String())
	// Output:
	// [####......]  40% 400/1000  400/s  ETA 2s
	// [########..]  80% 800/1000  400/s  ETA 1s
	// [##########] 100% 1000/1000  400/s  in 2.5s
}

// Line renders one report, for a program that prints progress its own way.
func ExampleLine() {
	fmt.Println(progress.Line(mp.Progress{Done: 520, Total: 1000, Elapsed: 42275 * time.Microsecond}, 10))
	fmt.Println(progress.Line(mp.Progress{Done: 520, Total: -1, Elapsed: 42275 * time.Microsecond}, 10))
	// Output:
	// [#####.....]  52% 520/1000  12.3k/s  ETA <1s
	// 520 done  12.3k/s
}

// Square is a function for pool workers, registered at package level.
var Square = mp.Register("progress_example.square", func(ctx context.Context, x int) (int, error) {
	return x * x, nil
})

// How a program uses it: a bar on standard error for a Map. (Not run here: running it needs
// mp.Init as the first statement of main.)
func ExampleBar_map() {
	ctx := context.Background()
	pool, err := mp.NewPool(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	xs := make([]int, 100_000)
	for i := range xs {
		xs[i] = i
	}
	squares, err := mp.Map(ctx, pool, Square, xs, mp.WithProgress(progress.Bar(os.Stderr, progress.WithLabel("squares"))))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(squares[999])
}
