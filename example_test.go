//go:build unix

package mp_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/mp-go/mp"
)

// Functions that run in children are registered at package level, so that the child — this same
// binary, executed again — knows them too.
var (
	Greet = mp.Register("example.greet", func(ctx context.Context, who string) (struct{}, error) {
		fmt.Printf("hello, %s, from %s\n", who, mp.Current().Name)
		return struct{}{}, nil
	})
	Cube = mp.Register("example.cube", func(ctx context.Context, x int) (int, error) {
		return x * x * x, nil
	})
	Buy = mp.Register("example.buy", func(ctx context.Context, seat string) (string, error) {
		return "", fmt.Errorf("seat %s: %w", seat, ErrSoldOut)
	})
)

// Worker is a Runner: its exported fields travel to the child, which calls Run.
type Worker struct {
	ID   int
	Task string
}

// Run is the body of the process.
func (w *Worker) Run(ctx context.Context) error {
	fmt.Printf("worker %d doing %s\n", w.ID, w.Task)
	return nil
}

var WorkerFunc = mp.RegisterRunner[*Worker]("example.worker")

// Start a child, wait for it, and look at how it ended: Python's Process(target=...).start()
// and join().
func ExampleProcess() {
	ctx := context.Background()
	p := mp.NewProcess(Greet, "world", mp.WithName("greeter"))
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name(), "exit code", p.ExitCode())
	// Output:
	// hello, world, from greeter
	// greeter exit code 0
}

// Run a function in a fresh process and get its result.
func ExampleRun() {
	v, err := mp.Run(context.Background(), Cube, 3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	// Output: 27
}

// Terminate a running child: its exit code is minus the signal number, as in Python.
func ExampleProcess_Terminate() {
	ctx := context.Background()
	p := mp.NewProcess(Sleep, time.Hour)
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Terminate(); err != nil {
		log.Fatal(err)
	}
	err := p.Wait(ctx)
	var ee *mp.ExitError
	fmt.Println(errors.As(err, &ee), p.ExitCode(), p.Alive())
	// Output: true -15 false
}

// The subclass style: a registered Runner type whose fields arrive in the child.
func ExampleNewRunnerProcess() {
	ctx := context.Background()
	var ps []*mp.Process
	for i := range 3 {
		p := mp.NewRunnerProcess(&Worker{ID: i, Task: "indexing"})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		if err := p.Wait(ctx); err != nil { // one at a time, to keep the output in order
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	fmt.Println(len(ps), "workers done")
	// Output:
	// worker 0 doing indexing
	// worker 1 doing indexing
	// worker 2 doing indexing
	// 3 workers done
}

// An error returned in a child keeps its identity in the parent, for registered sentinels.
func ExampleRegisterError() {
	// In a package-level declaration:
	//   var ErrSoldOut = mp.RegisterError("mp_test.sold_out", errors.New("sold out"))
	_, err := mp.Run(context.Background(), Buy, "7A")
	var pe *mp.ProcessError
	fmt.Println(errors.Is(err, ErrSoldOut), errors.As(err, &pe), pe.Message)
	// Output: true true seat 7A: sold out
}

// A pool of workers: Map keeps the order of its input.
func ExampleMap() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	cubes, err := mp.Map(ctx, p, Cube, []int{1, 2, 3, 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cubes)
	// Output: [1 8 27 64]
}

// Submit returns a future at once; OnDone runs a callback in the parent when it completes.
func ExampleSubmit() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	fut := mp.Submit(ctx, p, Cube, 5)
	done := make(chan struct{})
	fut.OnDone(func(v int, err error) {
		fmt.Println("callback:", v, err)
		close(done)
	})
	<-done
	v, err := fut.Wait(ctx)
	fmt.Println("result:", v, err)
	if err := p.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// callback: 125 <nil>
	// result: 125 <nil>
}

// MapSeq streams: it reads its input lazily and yields results in order.
func ExampleMapSeq() {
	ctx := context.Background()
	p, err := mp.NewPool(ctx, mp.WithWorkers(2))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	naturals := func(yield func(int) bool) {
		for i := 1; ; i++ {
			if !yield(i) {
				return
			}
		}
	}
	for v, err := range mp.MapSeq(ctx, p, Cube, naturals) {
		if err != nil {
			log.Fatal(err)
		}
		if v > 100 {
			break // cancels what is outstanding
		}
		fmt.Print(v, " ")
	}
	fmt.Println()
	// Output: 1 8 27 64
}
