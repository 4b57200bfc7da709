// Command joinable_queue ends a consumer with JoinableQueue's Join instead of a sentinel. Run it
// and the consumer alex, a daemon process, eats ten foods one by one; then the main process's
// Join returns, its code ends, and the daemon, still waiting for food, is terminated with it.
//
// It mirrors Python's JoinableQueue program, where the main process puts ten foods on a
// JoinableQueue and starts one consumer, alex, as a daemon process; the consumer loops for ever,
// taking a food, eating it (0.3 s) and calling task_done(); the main process calls q.join(), which
// returns once every food put has been marked done. Then the main process's code is over, and the
// daemon consumer — still waiting in get() for food that will never come — ends with it. No
// sentinel is needed: join() says when the work is done, and the daemon flag says what becomes of
// the consumer.
//
// In Go: mp.NewJoinableQueue, TaskDone, Join(ctx), mp.WithDaemon(true), and the deferred
// mp.Cleanup that terminates daemon children when main returns (called here explicitly at the end,
// to show the consumer's exit code).
//
//	go run ./examples/joinable_queue
//	go run ./examples/joinable_queue -sleep 30ms
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// ConsumerArg is the argument of Python's consumer(name, q), with how long eating takes.
type ConsumerArg struct {
	Name  string
	Q     *mp.JoinableQueue[string]
	Sleep time.Duration
}

// Consumer eats foods for ever, marking each one done.
var Consumer = mp.Register("joinable_queue.consumer", func(ctx context.Context, a ConsumerArg) (struct{}, error) {
	for {
		obj, err := a.Q.Get(ctx) // obj = q.get()
		if err != nil {
			return struct{}{}, err
		}
		time.Sleep(a.Sleep)
		fmt.Printf("%s (pid %d, daemon=%t) ate a %s\n", a.Name, os.Getpid(), mp.Current().Daemon, obj)
		a.Q.TaskDone() // q.task_done()
	}
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	sleep := flag.Duration("sleep", 300*time.Millisecond, "how long the consumer takes to eat one food")
	n := flag.Int("n", 10, "foods to put")
	flag.Parse()
	ctx := context.Background()

	q, err := mp.NewJoinableQueue[string](0) // q = JoinableQueue()
	if err != nil {
		log.Fatal(err)
	}
	for i := range *n {
		if err := q.Put(ctx, fmt.Sprintf("food%d", i)); err != nil { // q.put('food%s' % i)
			log.Fatal(err)
		}
	}
	fmt.Printf("main pid=%d: put %d foods: Len()=%d Unfinished()=%d\n", os.Getpid(), *n, q.Len(), q.Unfinished())

	// p1 = Process(target=consumer, args=('alex', q)); p1.daemon = True; p1.start()
	p := mp.NewProcess(Consumer, ConsumerArg{Name: "alex", Q: q, Sleep: *sleep}, mp.WithName("alex"), mp.WithDaemon(true))
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main: started the daemon consumer %s (pid %d); Join waits until every food is marked done\n", p.Name(), p.Pid())

	if err := q.Join(ctx); err != nil { // q.join()
		log.Fatal(err)
	}
	fmt.Printf("main: Join returned: Len()=%d Unfinished()=%d; the consumer is still alive, waiting in Get: %t\n",
		q.Len(), q.Unfinished(), p.Alive())
	fmt.Println("main: the main process's code is done")

	// This is what the deferred call does when main returns: terminate the daemon children, then
	// wait for every child. Called here to show how the consumer ended.
	mp.Cleanup()
	fmt.Printf("main: after Cleanup: %s Alive()=%t ExitCode()=%d (terminated with the main process)\n", p.Name(), p.Alive(), p.ExitCode())
}
