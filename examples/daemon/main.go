// Command daemon shows daemon processes, in three parts. First, a daemon that sleeps a tenth of
// a unit prints its end before the main process prints its line. Second, a daemon tries to start
// a child and gets mp.ErrDaemonChildren. Third, a daemon (three units) and an ordinary child (five
// units) are started and the main process's code ends after one unit: the daemon is terminated
// and never prints its end, while the ordinary child runs to its end.
//
// A daemon is a child created WithDaemon(true), Python's
//
//	p = Process(target=foo)
//	p.daemon = True  # before start()
//	p.start()
//
// and, as in Python, it has two properties:
//
//  1. it ends with its parent's code: when main returns, the deferred mp.Cleanup terminates the
//     daemon children, while it waits for the other children to finish;
//  2. it may not start children of its own: its Start returns mp.ErrDaemonChildren.
//
// Run it with:
//
//	go run ./examples/daemon              # units of 1 s
//	go run ./examples/daemon -unit 100ms  # the same, ten times faster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/mp-go/mp"
)

// Job is the argument of Sleeper: who is sleeping, and for how long.
type Job struct {
	Who   string
	Sleep time.Duration
}

// Sleeper prints "start", sleeps, and prints "end": the daemon and the ordinary child of every
// part.
var Sleeper = mp.Register("daemon.sleeper", func(ctx context.Context, j Job) (struct{}, error) {
	fmt.Printf("%s start (daemon=%t), sleeping %v\n", j.Who, mp.Current().Daemon, j.Sleep)
	time.Sleep(j.Sleep)
	fmt.Printf("%s end\n", j.Who)
	return struct{}{}, nil
})

// StartChild tries to start a child, which a daemon may not do.
var StartChild = mp.Register("daemon.start_child", func(ctx context.Context, _ struct{}) (struct{}, error) {
	p := mp.NewProcess(Sleeper, Job{Who: "grandchild", Sleep: 0})
	err := p.Start(ctx)
	fmt.Printf("daemon %s: Start of a child returned: %v\n", mp.Current().Name, err)
	return struct{}{}, err
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", time.Second, "the time unit of the last part")
	flag.Parse()
	ctx := context.Background()

	fmt.Println("== a short daemon finishes before the main process ==")
	d := mp.NewProcess(Sleeper, Job{Who: "daemon", Sleep: unit / 10}, mp.WithDaemon(true))
	if err := d.Start(ctx); err != nil {
		log.Fatal(err)
	}
	time.Sleep(unit / 2)
	fmt.Println("main: this is the main process")
	if err := d.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	fmt.Println("== a daemon may not start children ==")
	d = mp.NewProcess(StartChild, struct{}{}, mp.WithDaemon(true))
	if err := d.Start(ctx); err != nil {
		log.Fatal(err)
	}
	err := d.Wait(ctx)
	fmt.Printf("main: the daemon failed with: %v\n", err)
	fmt.Printf("main: errors.Is(err, mp.ErrDaemonChildren) = %t\n", errors.Is(err, mp.ErrDaemonChildren))

	fmt.Println("== the daemon ends with the main process, the other child does not ==")
	daemon := mp.NewProcess(Sleeper, Job{Who: "daemon", Sleep: 3 * unit}, mp.WithDaemon(true))
	child := mp.NewProcess(Sleeper, Job{Who: "child", Sleep: 5 * unit})
	for _, p := range []*mp.Process{daemon, child} {
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}
	time.Sleep(unit)
	fmt.Println("main: the main process's code is done")

	// This is what the deferred mp.Cleanup does when main returns: terminate the daemons, wait
	// for the other children. It is called here only so that we can print what happened.
	mp.Cleanup()
	fmt.Printf("main: after Cleanup: daemon ExitCode()=%d, child ExitCode()=%d\n", daemon.ExitCode(), child.ExitCode())
}
