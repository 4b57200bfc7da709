// Command cluster runs a Map on a NATS cluster of one machine: an embedded server on loopback and
// two agent processes of this binary, two slots each (mpnats.NewLocalPool). Each result says
// which agent ran it. A third of the way through, the program kills one agent with SIGKILL, on
// purpose: the tasks it held go to the other agent after the ack wait (one second here), and the
// Map still returns every result, once, in the order of the input.
//
//	go run ./examples/cluster
//
// On several machines the pool is the same; only its making differs: mpnats.Start with WithListen,
// WithTLS and WithAuth on the head, and on each other host the same binary with MPNATS_URL,
// MPNATS_USER and MPNATS_PASSWORD set, calling mpnats.ServeFromEnv.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// Result is one item's result and the agent that ran it.
type Result struct {
	Item, Square int
	Agent        int // the pid of the agent process (the worker's parent)
}

// Square sleeps a little, so the Map lasts long enough to lose an agent in the middle.
var Square = mp.Register("cluster.square", func(ctx context.Context, x int) (Result, error) {
	select {
	case <-time.After(40 * time.Millisecond):
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	return Result{Item: x, Square: x * x, Agent: os.Getppid()}, nil
})

func main() {
	mp.Init()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lp, err := mpnats.NewLocalPool(ctx, "cluster", 2, 2, mpnats.WithClusterOptions(mpnats.WithAckWait(time.Second)))
	if err != nil {
		log.Fatal(err)
	}
	defer lp.Close()
	agents := lp.AgentProcesses()
	fmt.Printf("main process pid=%d; agents: [%d %d], 2 slots each\n", os.Getpid(), agents[0].Pid(), agents[1].Pid())

	const n = 60
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	victim := agents[1]
	var once sync.Once
	kill := func(done int) {
		once.Do(func() {
			victim.Kill()
			fmt.Printf("killed agent pid=%d after %d of %d items\n", victim.Pid(), done, n)
		})
	}
	results, err := mp.Map(ctx, lp, Square, items, mp.WithChunkSize(2), mp.WithProgress(func(p mp.Progress) {
		if p.Done >= n/3 {
			kill(int(p.Done))
		}
	}))
	if err != nil {
		log.Fatal(err)
	}
	once.Do(func() { log.Fatal("the Map ended before the agent was killed") })
	byAgent := map[int]int{}
	inOrder := len(results) == n
	for i, r := range results {
		if r.Item != i || r.Square != i*i {
			inOrder = false
		}
		byAgent[r.Agent]++
		if i%2 == 0 {
			fmt.Printf("chunk %2d (items %2d-%2d): squares %4d %4d by agent pid=%d\n", i/2, i, i+1, r.Square, results[min(i+1, n-1)].Square, r.Agent)
		}
	}
	fmt.Printf("items per agent: %v\n", byAgent)
	fmt.Printf("%d results, each once, in the order of the input: %v\n", len(results), inOrder)
	if err := victim.Wait(ctx); err == nil || victim.ExitCode() != -int(syscall.SIGKILL) {
		log.Fatalf("the killed agent ended with %v", err)
	}
	if err := lp.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("closed: the server and the other agent stopped")
}
