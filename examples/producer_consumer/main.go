// Command producer_consumer is the producer/consumer model over a queue, ended by a None sentinel.
// Run it and you see two producer processes, egon and taibai, each put ten foods on a shared
// queue, sleeping a random 1 to 5 units before each, and two consumer processes, alex and
// firedragon, each take foods from it, sleeping a random 1 to 3 units before each, until they get
// nil, Python's None; each says so and how many it ate. It makes three points:
//
//  1. the queue decouples the two sides: a slow side is helped by starting more of its processes;
//  2. a consumer cannot tell that the producers are done, so the main process joins the producers
//     and then puts one None per consumer — here a nil *string: the queue holds *string values,
//     and nil is Python's None; a consumer stops when it gets one;
//  3. the main process joins the producers before it puts the sentinels, so every food is on the
//     queue before the first nil.
//
// (mp's Queue can also be shut down, as a Go channel is closed — Python 3.13's Queue.shutdown:
// Get then returns what is left and mp.ErrClosed, and no sentinels are needed.
// examples/queue_many does that.)
//
//	go run ./examples/producer_consumer              # 1 to 5 s per food
//	go run ./examples/producer_consumer -unit 100ms  # ten times faster
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

// ProducerArg is the argument of Python's producer(name, food, q), with the number of foods and
// the time unit.
type ProducerArg struct {
	Name, Food string
	Q          *mp.Queue[*string]
	N          int
	Unit       time.Duration
}

// ConsumerArg is the argument of Python's consumer(name, q), with the time unit.
type ConsumerArg struct {
	Name string
	Q    *mp.Queue[*string]
	Unit time.Duration
}

// Producer puts N foods on the queue, each after a random 1 to 5 units.
var Producer = mp.Register("producer_consumer.producer", func(ctx context.Context, a ProducerArg) (struct{}, error) {
	for i := range a.N {
		time.Sleep(time.Duration(rand.IntN(5)+1) * a.Unit) // time.sleep(random.randint(1, 5))
		food := fmt.Sprintf("%s%d from %s", a.Food, i, a.Name)
		if err := a.Q.Put(ctx, &food); err != nil {
			return struct{}{}, err
		}
		fmt.Printf("%s (pid %d) produced %s%d\n", a.Name, os.Getpid(), a.Food, i)
	}
	return struct{}{}, nil
})

// Consumer takes foods from the queue, each after a random 1 to 3 units, until it gets nil.
var Consumer = mp.Register("producer_consumer.consumer", func(ctx context.Context, a ConsumerArg) (struct{}, error) {
	pid := os.Getpid()
	for eaten := 0; ; eaten++ {
		time.Sleep(time.Duration(rand.IntN(3)+1) * a.Unit) // time.sleep(random.randint(1, 3))
		food, err := a.Q.Get(ctx)
		if err != nil {
			return struct{}{}, err
		}
		if food == nil { // if food is None: break
			fmt.Printf("%s (pid %d) got nil: no more food; stopping after eating %d\n", a.Name, pid, eaten)
			return struct{}{}, nil
		}
		fmt.Printf("%s (pid %d) ate %s\n", a.Name, pid, *food)
	}
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	unit := flag.Duration("unit", time.Second, "producers sleep 1 to 5 units before each food, consumers 1 to 3")
	n := flag.Int("n", 10, "foods per producer")
	flag.Parse()
	ctx := context.Background()

	q, err := mp.NewQueue[*string](0) // q = Queue()
	if err != nil {
		log.Fatal(err)
	}
	producers := []*mp.Process{
		mp.NewProcess(Producer, ProducerArg{Name: "egon", Food: "bread", Q: q, N: *n, Unit: *unit}),
		mp.NewProcess(Producer, ProducerArg{Name: "taibai", Food: "bone", Q: q, N: *n, Unit: *unit}),
	}
	consumers := []*mp.Process{
		mp.NewProcess(Consumer, ConsumerArg{Name: "alex", Q: q, Unit: *unit}),
		mp.NewProcess(Consumer, ConsumerArg{Name: "firedragon", Q: q, Unit: *unit}),
	}
	for _, p := range append(producers, consumers...) {
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("main pid=%d: started producers egon (pid %d) and taibai (pid %d), consumers alex (pid %d) and firedragon (pid %d)\n",
		os.Getpid(), producers[0].Pid(), producers[1].Pid(), consumers[0].Pid(), consumers[1].Pid())

	for _, p := range producers { // p1.join(); p2.join()
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("main: both producers are done; putting %d nil sentinels, one per consumer\n", len(consumers))
	for range consumers { // q.put(None); q.put(None)
		if err := q.Put(ctx, nil); err != nil {
			log.Fatal(err)
		}
	}
	// Python joins the consumers when the main process exits; the deferred mp.Cleanup would too.
	for _, p := range consumers {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("main: both consumers stopped; %d foods left on the queue\n", q.Len())
}
