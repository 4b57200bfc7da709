// Command join shows that Wait, Python's join(), turns asynchronous into synchronous. Run it and
// you see three parts. Without Wait, the child's ten "the son is here" lines and the parent's five
// "dad is here" lines interleave: both run at the same time. With Wait before the parent's loop,
// every son line comes first. Last, a child prints "child: start" and "child: end", and only then
// does the parent print "main process".
//
// It mirrors Python's
//
//	p = Process(target=foo)
//	p.start()
//	p.join()  # instead of time.sleep(5): block until the child has ended
//	print("main process")
//
// Waiting with a sleep guesses how long the child takes; Wait knows.
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

// Son is Python's func: it prints "the son is here" l.Count times, l.Every apart.
var Son = mp.Register("join.son", func(ctx context.Context, l Lines) (struct{}, error) {
	for i := 1; i <= l.Count; i++ {
		time.Sleep(l.Every)
		fmt.Printf("%s the son is here (%d/%d)\n", l.Tag, i, l.Count)
	}
	return struct{}{}, nil
})

// Foo prints "start", sleeps, and prints "end".
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
	flag.DurationVar(&unit, "unit", time.Second, "the child of the last part sleeps two units")
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

	fmt.Println("== with Wait: the parent blocks until the child has ended ==")
	p = mp.NewProcess(Son, Lines{Tag: "[sync]", Count: 10, Every: 20 * time.Millisecond})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	dad("[sync]")

	fmt.Println("== Wait instead of time.sleep ==")
	p = mp.NewProcess(Foo, 2*unit)
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("main process")
}
