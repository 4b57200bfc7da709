// Command children starts several children in a loop, in three parts. First, a loop starts three
// children: the parent's "this is the parent i" lines and the children's lines come in no fixed
// order. Second, four children are started and only then waited for, all of them: the parent goes
// on once the last has finished, about one unit after the start. Third, the same four children
// with the wait inside the starting loop: each runs alone, and the whole takes four units.
//
// It mirrors Python's
//
//	l = []
//	for place in places:
//	    p = Process(target=hello, args=(place,))
//	    p.start()
//	    l.append(p)
//	[p.join() for p in l]
//
// and shows why join must not go inside the starting loop: start all, then join all. In mp,
// Start and Wait play start() and join().
//
//	go run ./examples/children -unit 100ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Func prints which child it is, its pid and its parent's.
var Func = mp.Register("children.func", func(ctx context.Context, n int) (struct{}, error) {
	fmt.Printf("this is child %d: pid=%d ppid=%d\n", n, os.Getpid(), os.Getppid())
	return struct{}{}, nil
})

// Place is the argument of Hello: a place name and how long to take.
type Place struct {
	Name  string
	Sleep time.Duration
}

// Hello sleeps, then says which place it is from.
var Hello = mp.Register("children.hello", func(ctx context.Context, pl Place) (struct{}, error) {
	time.Sleep(pl.Sleep)
	fmt.Printf("child: I am from %s (pid=%d ppid=%d)\n", pl.Name, os.Getpid(), os.Getppid())
	return struct{}{}, nil
})

var places = []string{"Henan", "Shandong", "Liaoning", "Hunan"}

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", 500*time.Millisecond, "how long each child of the last two parts sleeps")
	flag.Parse()
	ctx := context.Background()
	fmt.Printf("parent: pid=%d\n", os.Getpid())

	fmt.Println("== three children started in a loop ==")
	var ps []*mp.Process
	for i := range 3 {
		p := mp.NewProcess(Func, i)
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
		fmt.Printf("this is the parent %d\n", i)
	}
	waitAll(ctx, ps)

	fmt.Println("== start all, then join all ==")
	start := time.Now()
	ps = nil
	for _, name := range places {
		p := mp.NewProcess(Hello, Place{Name: name, Sleep: unit})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	waitAll(ctx, ps)
	together := time.Since(start)
	fmt.Printf("parent: all %d children have finished, in %.3fs\n", len(ps), together.Seconds())
	fmt.Printf("parent: I choose %s\n", places[rand.IntN(len(places))])

	fmt.Println("== join inside the loop: one child at a time ==")
	start = time.Now()
	for _, name := range places {
		p := mp.NewProcess(Hello, Place{Name: name, Sleep: unit})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	oneByOne := time.Since(start)
	fmt.Printf("parent: all %d children have finished, in %.3fs\n", len(places), oneByOne.Seconds())
	fmt.Printf("parent: joining inside the loop took %.1fx as long\n", oneByOne.Seconds()/together.Seconds())
}

// waitAll waits for every process in ps: Python's [p.join() for p in l].
func waitAll(ctx context.Context, ps []*mp.Process) {
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
}
