// Command sleepers times three tasks that sleep 1, 2 and 3 units, run three ways. Called one
// after the other in this process, or each started in a child and waited for before the next
// starts, they take about 1+2+3 = 6 units; started all at once and then waited for, about 3 units,
// the longest of them. It prints each way's time, and how much faster the parallel one was.
//
// It mirrors Python's
//
//	for i in range(1, 4):
//	    p = Process(target=foo, args=(i,))
//	    p.start()
//	    p_list.append(p)
//	for p in p_list:
//	    p.join()
//
// against calling foo(1), foo(2), foo(3) in turn, or joining each process right after its start.
//
//	go run ./examples/sleepers             # units of 1 s: about 6 s, 6 s and 3 s
//	go run ./examples/sleepers -unit 100ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/mp-go/mp"
)

// Nap is the argument of Foo: how many units to sleep, and the length of a unit.
type Nap struct {
	X    int
	Unit time.Duration
}

// Foo is Python's foo(x): it sleeps x units.
var Foo = mp.Register("sleepers.foo", func(ctx context.Context, n Nap) (struct{}, error) {
	fmt.Printf("process %d start\n", n.X)
	time.Sleep(time.Duration(n.X) * n.Unit)
	fmt.Printf("process %d end\n", n.X)
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", time.Second, "the time unit: the tasks sleep 1, 2 and 3 units")
	flag.Parse()
	ctx := context.Background()

	fmt.Println("== direct calls, in this process: serial ==")
	start := time.Now()
	for x := 1; x <= 3; x++ {
		if _, err := Foo.Call(ctx, Nap{X: x, Unit: unit}); err != nil {
			log.Fatal(err)
		}
	}
	direct := time.Since(start)
	fmt.Printf("direct calls took %.3fs\n", direct.Seconds())

	fmt.Println("== start and join one by one: serial ==")
	start = time.Now()
	for x := 1; x <= 3; x++ {
		p := mp.NewProcess(Foo, Nap{X: x, Unit: unit})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	oneByOne := time.Since(start)
	fmt.Printf("start+join one by one took %.3fs\n", oneByOne.Seconds())

	fmt.Println("== start all, then join all: parallel ==")
	start = time.Now()
	var ps []*mp.Process
	for x := 1; x <= 3; x++ {
		p := mp.NewProcess(Foo, Nap{X: x, Unit: unit})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	fmt.Println(ps) // as Python prints its p_list: the processes, started and running
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	parallel := time.Since(start)
	fmt.Printf("start all, join all took %.3fs\n", parallel.Seconds())

	fmt.Printf("parallel was %.1fx as fast as the direct calls (ideal: 6/3 = 2.0x)\n", direct.Seconds()/parallel.Seconds())
	fmt.Println("main process")
}
