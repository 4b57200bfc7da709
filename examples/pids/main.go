// Command pids shows where pids come from. Run it and the parent prints the child's pid as 0
// before Start, then the child's pid, its own and its own parent's; the child prints its own pid
// and its parent's, which match.
//
//   - in a child, mp.Current().Pid (Python's current_process().pid) or os.Getpid() is its own
//     pid, and os.Getppid() is its parent's;
//   - in the parent, p.Pid() (Python's p.pid) is the child's pid; it is 0 until Start (Python's
//     None), so read it after Start.
//
// The main process's code ends while the child still sleeps; the deferred mp.Cleanup then waits
// for it, as Python waits for its non-daemon children at exit.
//
//	go run ./examples/pids -unit 100ms
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

// Task prints its pids, then sleeps.
var Task = mp.Register("pids.task", func(ctx context.Context, sleep time.Duration) (struct{}, error) {
	fmt.Println("child: start")
	fmt.Printf("child: my own pid, mp.Current().Pid: child pid=%d\n", mp.Current().Pid)
	fmt.Printf("child: my parent's pid, os.Getppid(): child ppid=%d\n", os.Getppid())
	if par, ok := mp.Parent(); ok {
		fmt.Printf("child: mp.Parent() says my parent is %s, pid %d\n", par.Name, par.Pid)
	}
	time.Sleep(sleep)
	fmt.Println("child: end")
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", time.Second, "how long the child sleeps")
	flag.Parse()
	ctx := context.Background()

	p := mp.NewProcess(Task, unit)
	fmt.Printf("parent: before Start, p.Pid()=%d\n", p.Pid())
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parent: the child's pid, p.Pid(): child pid=%d\n", p.Pid())
	fmt.Printf("parent: my own pid, os.Getpid(): parent pid=%d\n", os.Getpid())
	fmt.Printf("parent: my parent's pid, os.Getppid(): parent ppid=%d\n", os.Getppid())
	fmt.Println("main process: done; the deferred mp.Cleanup waits for the child")
}
