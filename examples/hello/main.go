// Command hello starts one child process from a function. Run it and you see three lines: the
// parent says it started Process-1 and its pid, then the child prints its pid and its parent's
// pid, and last the parent prints its own pid. The child sleeps one unit and the parent two, so
// the child prints first: parent and child run at the same time.
//
// It mirrors Python's
//
//	p = Process(target=func, args=(1,))
//	p.start()
//	time.sleep(2)
//
// Go cannot fork a running program, so an mp child is this same program started again: the
// function is registered under a name with mp.Register so that the child can find it, and its
// argument is encoded and sent to the child.
//
//	go run ./examples/hello              # the child sleeps 1 s, the parent 2 s
//	go run ./examples/hello -unit 100ms  # the same, ten times faster
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Args is what the parent hands to the child: a number to print, and how long to sleep.
type Args struct {
	N     int
	Sleep time.Duration
}

// Func is Python's func(n): it sleeps, then prints its pid and its parent's. It is registered
// so that a child process can run it.
var Func = mp.Register("hello.func", func(ctx context.Context, a Args) (struct{}, error) {
	time.Sleep(a.Sleep)
	fmt.Printf("child: func(%d) ran here; my pid=%d ppid=%d\n", a.N, os.Getpid(), os.Getppid())
	return struct{}{}, nil
})

// unit is how long the child sleeps; the parent sleeps two units.
var unit time.Duration

func main() {
	// mp.Main is Python's if __name__ == "__main__": main(). In a child it runs the child's
	// task and exits; here it runs this function, then waits for the children, as Python's exit
	// does, and exits 1 with the error if the function returns one.
	mp.Main(func(ctx context.Context) error {
		flag.DurationVar(&unit, "unit", time.Second, "the child sleeps one unit, the parent two")
		flag.Parse()

		p := mp.NewProcess(Func, Args{N: 1, Sleep: unit})
		if err := p.Start(ctx); err != nil {
			return err
		}
		fmt.Printf("parent: started %s (pid %d); sleeping %v\n", p.Name(), p.Pid(), 2*unit)
		time.Sleep(2 * unit)
		fmt.Printf("parent: I am the main process; my pid=%d ppid=%d\n", os.Getpid(), os.Getppid())
		return p.Wait(ctx)
	})
}
