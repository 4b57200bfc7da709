// Command lock_pids shows threads and processes side by side. Run it and five "thread" lines all
// print the main process's pid, then five "process" lines print five pids of their own; every
// line comes out whole, because each worker prints under a lock.
//
// It mirrors Python's program where five threads, then five processes, run the same
// worker(sign, lock), which takes the lock, prints its sign and os.getpid(), and releases the
// lock:
//
//	def worker(sign, lock):
//	    lock.acquire()
//	    print(sign, os.getpid())
//	    lock.release()
//
// The lock keeps the lines from mixing on the shared standard output: threading.Lock for the
// threads, multiprocessing.Lock for the processes.
//
// In Go: goroutines are the threads and a sync.Mutex their lock; child processes get an
// mp.Mutex in their argument. Both are a sync.Locker (m.Locker() for the mp.Mutex), so the very
// same worker function serves both, as in Python. The worker writes its line in three pieces
// (sign, space, pid and newline), as Python's print writes its arguments one by one: without the
// lock the pieces of different workers could interleave; with it every line comes out whole.
//
//	go run ./examples/lock_pids
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"

	"github.com/mp-go/mp"
)

// worker is Python's worker(sign, lock).
func worker(sign string, lock sync.Locker) {
	lock.Lock() // lock.acquire()
	defer lock.Unlock()
	// print(sign, os.getpid()), one piece at a time.
	for _, piece := range []string{sign, " ", fmt.Sprintln(os.Getpid())} {
		if _, err := os.Stdout.WriteString(piece); err != nil {
			log.Fatal(err)
		}
	}
}

// WorkerArg is Python's args=('process', lock): the worker's sign and the lock.
type WorkerArg struct {
	Sign string
	Lock *mp.Mutex
}

// Worker runs worker in a child process, with the mp.Mutex as its sync.Locker.
var Worker = mp.Register("lock_pids.worker", func(ctx context.Context, a WorkerArg) (struct{}, error) {
	worker(a.Sign, a.Lock.Locker())
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	fmt.Println("Main:", os.Getpid())

	// Multi-thread: goroutines share this process, and its pid.
	var record sync.WaitGroup
	var lock sync.Mutex // lock = threading.Lock()
	for range 5 {
		record.Go(func() { worker("thread", &lock) })
	}
	record.Wait()

	// Multi-process: every child has its own pid.
	plock, err := mp.NewMutex() // lock = multiprocessing.Lock()
	if err != nil {
		log.Fatal(err)
	}
	var procs []*mp.Process
	for range 5 {
		p := mp.NewProcess(Worker, WorkerArg{Sign: "process", Lock: plock})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		procs = append(procs, p)
	}
	var pids []int
	for _, p := range procs {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
		pids = append(pids, p.Pid())
	}
	fmt.Printf("Main: the processes were %v\n", pids)
}
