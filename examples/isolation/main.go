// Command isolation shows that processes do not share memory. Run it and four children each
// print the package-level variables counter and places as they find them (100 and empty) and as
// they change them (99 and their own place); then the parent prints its own copies, unchanged
// (1000 and [Beijing]); last, a fifth child sends its counter back as its result.
//
// In Python, too, a child changing a global changes only its own copy. A child is a fresh run of
// the same program, as with Python's "spawn" start method: it sees the package-level variables as
// initialised, not as the parent changed them at run time. Data goes to a child in its argument,
// and comes back in its result.
//
//	go run ./examples/isolation
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mp-go/mp"
)

// Package-level state: every process has its own copy.
var (
	counter = 100
	places  []string
)

// Visit changes this process's copy of counter and places, and returns the new counter.
var Visit = mp.Register("isolation.visit", func(ctx context.Context, place string) (int, error) {
	fmt.Printf("child %s (pid=%d): at start counter=%d places=%v\n", place, os.Getpid(), counter, places)
	counter--
	places = append(places, place)
	fmt.Printf("child %s (pid=%d): changed to counter=%d places=%v\n", place, os.Getpid(), counter, places)
	return counter, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	counter = 1000
	places = append(places, "Beijing")
	fmt.Printf("parent (pid=%d): before the children counter=%d places=%v\n", os.Getpid(), counter, places)

	var ps []*mp.Process
	for _, place := range []string{"Henan", "Shandong", "Liaoning", "Hunan"} {
		p := mp.NewProcess(Visit, place)
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("parent (pid=%d): after the children counter=%d places=%v\n", os.Getpid(), counter, places)

	// The way back from a child is its result.
	got, err := mp.Run(ctx, Visit, "Hubei")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parent: mp.Run returned the child's counter=%d; mine is still counter=%d\n", got, counter)
}
