// Command alive shows what a parent can see of its children, in three parts. First, Alive() and
// Name(): two children, one named "rocky", are alive after Start and not after Wait. Second, the
// name, pid and daemon flag of a child named "liangxue", as the parent sees them and as the child
// reports them. Third, Terminate: a child that would sleep twenty units is stopped by SIGTERM
// and never prints its end.
//
//   - Alive() is false before Start, true while the child runs, false once it has ended and been
//     reaped (Python's is_alive()).
//   - Name() is "Process-N" unless given with WithName; the child sees the same name in
//     mp.Current().Name (Python's p.name and current_process().name).
//   - Pid() in the parent is the child's os.Getpid() (Python's p.pid); Daemon() is false by
//     default (p.daemon).
//   - Terminate() sends SIGTERM and returns at once. Right after it, Alive() may still be true,
//     as Python's is_alive() is right after terminate(): the child has not been reaped yet. After
//     Wait, Alive() is false, and ExitCode() is minus the signal number (-15).
//
// Run it with:
//
//	go run ./examples/alive              # units of 1 s
//	go run ./examples/alive -unit 100ms  # the same, ten times faster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Foo prints its name, sleeps, and prints its end.
var Foo = mp.Register("alive.foo", func(ctx context.Context, d time.Duration) (struct{}, error) {
	fmt.Printf("child: process start: name=%s pid=%d\n", mp.Current().Name, os.Getpid())
	time.Sleep(d)
	fmt.Printf("child: process end: name=%s\n", mp.Current().Name)
	return struct{}{}, nil
})

// Whoami prints the child's name and pid, as the child sees them.
var Whoami = mp.Register("alive.whoami", func(ctx context.Context, _ struct{}) (struct{}, error) {
	fmt.Printf("child: this is the child; my name=%s pid=%d\n", mp.Current().Name, os.Getpid())
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", time.Second, "the children of the first part sleep two units")
	flag.Parse()
	ctx := context.Background()

	fmt.Println("== Alive and Name ==")
	p1 := mp.NewProcess(Foo, 2*unit)
	p2 := mp.NewProcess(Foo, 2*unit, mp.WithName("rocky"))
	fmt.Printf("before Start: %s Alive()=%t Pid()=%d\n", p1.Name(), p1.Alive(), p1.Pid())
	if err := p1.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after Start: %s Alive()=%t\n", p1.Name(), p1.Alive())
	if err := p2.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after Start: %s Alive()=%t\n", p2.Name(), p2.Alive())
	fmt.Printf("parent: %v\nparent: %v\n", p1, p2)
	// Python's version sleeps five seconds and asks is_alive() again, hoping the children are done
	// by then; waiting for them is the reliable way.
	for _, p := range []*mp.Process{p1, p2} {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("after Wait: %s Alive()=%t ExitCode()=%d\n", p.Name(), p.Alive(), p.ExitCode())
	}

	fmt.Println("== the child's name, pid and daemon flag, seen from the parent ==")
	p := mp.NewProcess(Whoami, struct{}{}, mp.WithName("liangxue"))
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parent: the child's Name()=%s Pid()=%d Daemon()=%t\n", p.Name(), p.Pid(), p.Daemon())
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	fmt.Println("== Terminate ==")
	p = mp.NewProcess(Foo, 20*unit)
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Terminate(); err != nil {
		log.Fatal(err)
	}
	// Either answer is right here: SIGTERM is on its way, but the child may not be reaped yet.
	fmt.Printf("right after Terminate: Alive()=%t (true until the child has been reaped)\n", p.Alive())
	err := p.Wait(ctx)
	var exitErr *mp.ExitError
	if !errors.As(err, &exitErr) {
		log.Fatalf("Wait after Terminate returned %v, want an *mp.ExitError", err)
	}
	fmt.Printf("Wait returned: %v\n", err)
	fmt.Printf("after Wait: Alive()=%t ExitCode()=%d\n", p.Alive(), p.ExitCode())
	fmt.Println("main process")
}
