// Command queue_many shares one small queue between twenty processes. Run it and ten output
// processes each print their own pid and the string they got, "<pid>(put):<time>", put by one of
// ten input processes; the queue holds at most three strings, as Python's
// multiprocessing.Queue(3) does, and no string is lost or taken twice. The main process joins the
// inputs, closes the queue ("no more object will come"), and joins the outputs. A Queue, unlike a
// Pipe, lets many processes put and many get.
//
// In Go: mp.NewQueue[string](3). Two differences from Python, both visible here:
//
//   - The bound is real for processes that cannot run yet: the consumers are started only once
//     the producers have filled the queue (Len() == Cap() == 3); the other seven producers wait in
//     Put until the consumers make room.
//   - Python's queue.close() only says that this process will put nothing more, and so does mp's
//     Close. To tell every process that no more values will come, mp has Shutdown (Python 3.13's
//     Queue.shutdown), which works as closing a channel does: Put fails from then on, and Get
//     returns the values left and then mp.ErrClosed — so the consumers still get every value put
//     before the shutdown, and a consumer that came too late gets mp.ErrClosed instead of waiting
//     for ever.
//
// Python's version takes a Lock around print so that the outputs do not mix; in Go one Printf of
// a short line is one write to standard output, which is not mixed with another process's, so
// there is no lock.
//
//	go run ./examples/queue_many
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// InputQ is Python's inputQ(queue): put "<pid>(put):<time>".
var InputQ = mp.Register("queue_many.input", func(ctx context.Context, q *mp.Queue[string]) (struct{}, error) {
	now := float64(time.Now().UnixMicro()) / 1e6 // time.time()
	info := fmt.Sprintf("%d(put):%.6f", os.Getpid(), now)
	return struct{}{}, q.Put(ctx, info)
})

// OutputQ is Python's outputQ(queue, lock): get one, print "<pid>(get):<what it got>".
var OutputQ = mp.Register("queue_many.output", func(ctx context.Context, q *mp.Queue[string]) (struct{}, error) {
	info, err := q.Get(ctx)
	if err != nil {
		return struct{}{}, err
	}
	fmt.Printf("%d(get):%s\n", os.Getpid(), info)
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	queue, err := mp.NewQueue[string](3) // queue = multiprocessing.Queue(3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main pid=%d: %v\n", os.Getpid(), queue)
	record1 := start(ctx, InputQ, queue)
	fmt.Printf("main: started 10 input processes %v\n", pids(record1))

	for queue.Len() < queue.Cap() {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("main: the queue is full: Len()=%d Cap()=%d; the other input processes wait in Put\n", queue.Len(), queue.Cap())

	record2 := start(ctx, OutputQ, queue)
	fmt.Printf("main: started 10 output processes %v\n", pids(record2))

	wait(ctx, record1)
	if err := queue.Shutdown(); err != nil { // Python 3.13: queue.shutdown(): no more object will come
		log.Fatal(err)
	}
	fmt.Printf("main: the input processes are done; shut the queue down (IsShutdown()=%t)\n", queue.IsShutdown())
	wait(ctx, record2)
	fmt.Printf("main: the output processes are done; Len()=%d\n", queue.Len())
}

// start starts ten processes running f(q).
func start(ctx context.Context, f *mp.Func[*mp.Queue[string], struct{}], q *mp.Queue[string]) []*mp.Process {
	var record []*mp.Process
	for range 10 {
		p := mp.NewProcess(f, q)
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		record = append(record, p)
	}
	return record
}

func wait(ctx context.Context, ps []*mp.Process) {
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
}

func pids(ps []*mp.Process) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.Pid())
	}
	return out
}
