package mpnats

import (
	"context"
	"fmt"
)

// A work queue across hosts: producers Put, consumers Get and mark each value done, and Join waits
// for all of them. With Start's in-process server this runs in one process; with a cluster every
// host's processes open the same queue by its name.
func ExampleNewJoinableQueue() {
	ctx := context.Background()
	c, err := Start(ctx)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	q, err := NewJoinableQueue[string](ctx, c, "jobs")
	if err != nil {
		panic(err)
	}
	defer q.Close()
	for _, job := range []string{"a", "b", "c"} {
		if err := q.Put(ctx, job); err != nil {
			panic(err)
		}
	}
	for range 3 {
		job, err := q.Get(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println("did", job)
		if err := q.TaskDone(ctx); err != nil {
			panic(err)
		}
	}
	fmt.Println(q.Join(ctx))
	// Output:
	// did a
	// did b
	// did c
	// <nil>
}

// Update runs a registered mp.UpdateFunc in the caller, in a compare-and-swap loop, so that
// processes on different hosts can change one entry without losing each other's updates.
func ExampleUpdate() {
	ctx := context.Background()
	c, err := Start(ctx)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	d, err := NewDict[string, int](ctx, c, "counts")
	if err != nil {
		panic(err)
	}
	// incr is registered at package level: var incr = mp.RegisterUpdate("pkg.incr", ...)
	for range 3 {
		if _, err := Update(ctx, d, "visits", incr, 2); err != nil {
			panic(err)
		}
	}
	n, _, err := d.Get(ctx, "visits")
	fmt.Println(n, err)
	// Output: 6 <nil>
}
