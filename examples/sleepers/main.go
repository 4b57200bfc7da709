// Command sleepers times three tasks that sleep 1, 2 and 3 units: seed 004's join lessons. Called
// one after the other, or each started and joined before the next is started, they take about
// 1+2+3 = 6 units; started all at once and then joined, about 3 units, the longest of them.
//
//	go run ./examples/sleepers             # units of 1 s, as in the seed
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

// Nap is the argument of Foo: the seed's x, and the length of a unit.
type Nap struct {
	X    int
	Unit time.Duration
}

// Foo is the seed's foo(x): it sleeps x units.
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
	fmt.Println(ps) // the seed prints its p_list
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
