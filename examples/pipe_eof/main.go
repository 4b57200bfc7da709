// Command pipe_eof shows when the receiving end of a pipe reports its end. Run it and a consumer
// child prints the foods the main process sends, then io.EOF once both copies of the send end are
// closed; then the same the other way round; and last a Recv that times out instead of reporting
// io.EOF, because the main process still holds a copy of the send end.
//
// It mirrors Python's
//
//	lp, rp = Pipe()
//	# consumer(lp, rp) calls lp.close() (#1), then rp.recv() in a loop
//	p = Process(target=consumer, args=(lp, rp))
//	p.start()
//	for i in range(100):
//	    lp.send('food%s' % i)
//	lp.close()  # (#2)
//
// where rp.recv() raises EOFError only once both are closed, lp in the child (#1) and lp in the
// main process (#2): a pipe end reports its end only once the other end is closed in every process
// that holds a copy of it.
//
// mp's Conn works the same way: Recv returns io.EOF (Python's EOFError) once every copy of the
// other end is closed and every message sent has been received. Three parts:
//
//  1. Python's program: the main process sends, a consumer child receives until io.EOF. Both
//     copies of the send end are closed: the child's (#1) and the main process's (#2).
//  2. The other way round: a child sends on the send end of a one-way pipe and returns; the main
//     process closes its own copy of the send end right after starting the child, and receives
//     until io.EOF.
//  3. What happens if the main process does not close its copy: once the child has sent
//     everything and exited, Recv waits for ever — no io.EOF can come while a copy of the send end
//     is open, even one that is never used. A timeout shows it; closing the copy brings io.EOF.
//
// Python's pipe is unsafe for several consumers reading copies of the same end: they take each
// other's messages, or parts of them. So do they with mp, whose Recv reads ahead whatever has
// arrived; so one consumer here. Several consumers take from a Queue, which is "a pipe plus a
// lock" (examples/queue_many).
//
//	go run ./examples/pipe_eof
//	go run ./examples/pipe_eof -n 10
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/mp-go/mp"
)

// Ends is what the main process hands to its consumer: both ends of the pipe, Python's
// args=(lp, rp).
type Ends struct {
	LP, RP *mp.Conn[string]
}

// Consumer is Python's consumer(lp, rp): close lp, then receive on rp until io.EOF.
var Consumer = mp.Register("pipe_eof.consumer", func(ctx context.Context, e Ends) (struct{}, error) {
	pid := os.Getpid()
	fmt.Printf("consumer pid=%d ppid=%d: closing my copy of lp (#1)\n", pid, os.Getppid())
	e.LP.Close() // lp.close(): this process never sends
	defer e.RP.Close()
	for n := 0; ; n++ {
		food, err := e.RP.Recv(ctx) // print(rp.recv())
		if errors.Is(err, io.EOF) {
			fmt.Printf("consumer pid=%d: Recv returned io.EOF (Python's EOFError) after %d messages: every copy of lp is closed\n", pid, n)
			return struct{}{}, nil
		}
		if err != nil {
			return struct{}{}, err
		}
		fmt.Printf("consumer pid=%d: %s\n", pid, food)
	}
})

// SenderArg hands a child the send end of a one-way pipe.
type SenderArg struct {
	W *mp.Conn[string]
	N int
}

// Sender sends N messages and returns; its copy of the send end is closed when it returns.
var Sender = mp.Register("pipe_eof.sender", func(ctx context.Context, a SenderArg) (struct{}, error) {
	defer a.W.Close()
	for i := range a.N {
		if err := a.W.Send(ctx, fmt.Sprintf("message %d from pid %d", i, os.Getpid())); err != nil {
			return struct{}{}, err
		}
	}
	fmt.Printf("sender pid=%d ppid=%d: sent %d messages; returning closes my copy of the send end\n", os.Getpid(), os.Getppid(), a.N)
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	n := flag.Int("n", 100, "foods the main process sends in part 1")
	m := flag.Int("m", 3, "messages the child sends in parts 2 and 3")
	wait := flag.Duration("wait", 200*time.Millisecond, "how long part 3 waits for an io.EOF that cannot come")
	flag.Parse()
	ctx := context.Background()
	fmt.Printf("main pid=%d\n", os.Getpid())

	fmt.Println("== the main process sends, a child receives until io.EOF ==")
	lp, rp, err := mp.Pipe[string]() // lp, rp = Pipe()
	if err != nil {
		log.Fatal(err)
	}
	p := mp.NewProcess(Consumer, Ends{LP: lp, RP: rp}) // Process(target=consumer, args=(lp, rp))
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	rp.Close() // this process never receives on rp; the child has its copy
	for i := range *n {
		if err := lp.Send(ctx, fmt.Sprintf("food%d", i)); err != nil { // lp.send('food%i' % i)
			log.Fatal(err)
		}
	}
	fmt.Printf("main: sent %d foods; closing my copy of lp (#2)\n", *n)
	lp.Close() // lp.close(): with the child's copy closed too (#1), its Recv reports io.EOF
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	fmt.Println("== a child sends, the main process receives until io.EOF ==")
	r, w, err := mp.Pipe[string](mp.OneWay()) // r, w = Pipe(duplex=False)
	if err != nil {
		log.Fatal(err)
	}
	p = mp.NewProcess(Sender, SenderArg{W: w, N: *m})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	// The child has its own copy of w. Close ours now: while this process holds a copy of the
	// send end, Recv cannot report io.EOF — the loop below would wait for ever after the last
	// message (the next part shows it).
	w.Close()
	fmt.Println("main: started the sender and closed my copy of the send end")
	for got := 0; ; got++ {
		msg, err := r.Recv(ctx)
		if errors.Is(err, io.EOF) {
			fmt.Printf("main: Recv returned io.EOF after %d messages\n", got)
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("main: received %q\n", msg)
	}
	r.Close()
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	fmt.Println("== the main process keeps its copy of the send end ==")
	r, w, err = mp.Pipe[string](mp.OneWay())
	if err != nil {
		log.Fatal(err)
	}
	p = mp.NewProcess(Sender, SenderArg{W: w, N: *m})
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	for range *m {
		msg, err := r.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("main: received %q\n", msg)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main: the sender has exited (ExitCode()=%d): its copy of the send end is closed; mine is open\n", p.ExitCode())
	tctx, cancel := context.WithTimeout(ctx, *wait)
	_, err = r.Recv(tctx)
	cancel()
	fmt.Printf("main: Recv with a %v timeout returned %v: no io.EOF while this process holds a copy of the send end; without the timeout it would wait for ever\n",
		*wait, err)
	w.Close()
	_, err = r.Recv(ctx)
	fmt.Printf("main: after closing my copy, Recv returned %v; errors.Is(err, io.EOF) = %t\n", err, errors.Is(err, io.EOF))
	r.Close()
}
