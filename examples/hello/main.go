// Command hello starts a child process from a function: seed 000 §3.1, where Python's
// Process(target=func, args=(1,)) runs func in a child that sleeps one second and prints its pid
// and its parent's pid, while the main process sleeps two seconds and prints its own. Whoever
// sleeps less prints first: parent and child run at the same time.
//
//	go run ./examples/hello              # the seed's timing: 1 s and 2 s
//	go run ./examples/hello -unit 100ms  # the same, ten times faster
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Args is what the parent hands to the child: the seed's n, and how long to sleep.
type Args struct {
	N     int
	Sleep time.Duration
}

// Func is the seed's func(n), registered so that a child process can run it.
var Func = mp.Register("hello.func", func(ctx context.Context, a Args) (struct{}, error) {
	time.Sleep(a.Sleep)
	fmt.Printf("child: func(%d) ran here; my pid=%d ppid=%d\n", a.N, os.Getpid(), os.Getppid())
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", time.Second, "the child sleeps one unit, the parent two")
	flag.Parse()
	ctx := context.Background()

	p := mp.NewProcess(Func, Args{N: 1, Sleep: unit})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parent: started %s (pid %d); sleeping %v\n", p.Name(), p.Pid(), 2*unit)
	time.Sleep(2 * unit)
	fmt.Printf("parent: I am the main process; my pid=%d ppid=%d\n", os.Getpid(), os.Getppid())
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
}
