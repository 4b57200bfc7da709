// Command join shows that Wait (Python's join) turns asynchronous into synchronous: seed 000 §5,
// where a child prints "the son is here" ten times and the parent, after p.join(), prints "dad is
// here" five times; and seed 004's join lesson, where "main process" is printed only after the
// child's "end".
//
// Without Wait the parent and the child run at the same time and their lines interleave; with
// Wait the parent blocks until the child has ended, so every child line comes first.
//
//	go run ./examples/join -unit 100ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/mp-go/mp"
)

// Lines is the argument of Son: how many lines to print, how far apart, and a prefix.
type Lines struct {
	Tag   string
	Count int
	Every time.Duration
}

// Son is seed 000 §5's func: ten lines, 20 ms apart.
var Son = mp.Register("join.son", func(ctx context.Context, l Lines) (struct{}, error) {
	for i := 1; i <= l.Count; i++ {
		time.Sleep(l.Every)
		fmt.Printf("%s the son is here (%d/%d)\n", l.Tag, i, l.Count)
	}
	return struct{}{}, nil
})

// Foo is seed 004's foo: start, sleep, end.
var Foo = mp.Register("join.foo", func(ctx context.Context, d time.Duration) (struct{}, error) {
	fmt.Println("child: start")
	time.Sleep(d)
	fmt.Println("child: end")
	return struct{}{}, nil
})

// dad prints the parent's lines.
func dad(tag string) {
	for i := 1; i <= 5; i++ {
		time.Sleep(10 * time.Millisecond)
		fmt.Printf("%s dad is here (%d/5)\n", tag, i)
	}
}

func main() {
	mp.Init()
	defer mp.Cleanup()

	var unit time.Duration
	flag.DurationVar(&unit, "unit", time.Second, "seed 004's child sleeps two units")
	flag.Parse()
	ctx := context.Background()

	fmt.Println("== without Wait: parent and child run at the same time ==")
	p := mp.NewProcess(Son, Lines{Tag: "[async]", Count: 10, Every: 20 * time.Millisecond})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	dad("[async]")
	if err := p.Wait(ctx); err != nil { // before the next part, so that the parts do not mix
		log.Fatal(err)
	}

	fmt.Println("== with Wait: the parent blocks until the child has ended (seed 000 §5) ==")
	p = mp.NewProcess(Son, Lines{Tag: "[sync]", Count: 10, Every: 20 * time.Millisecond})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	dad("[sync]")

	fmt.Println("== Wait instead of time.sleep (seed 004) ==")
	p = mp.NewProcess(Foo, 2*unit)
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("main process")
}
