// Command pipe_duplex passes messages both ways over a duplex pipe between two processes. Run it
// and proc2 prints the "hello" proc1 sent it, then proc1 prints the "hello, too" proc2 sent back;
// then a one-way pipe carries one message from a child to the main process, and the wrong end
// refuses to send.
//
// It mirrors Python's
//
//	pipe = Pipe()  # duplex: each end both sends and receives
//	Process(target=proc1, args=(pipe[0],)).start()  # send 'hello', then print(pipe.recv())
//	Process(target=proc2, args=(pipe[1],)).start()  # print(pipe.recv()), then send 'hello, too'
//
// proc2 prints first, always: proc1's Recv cannot return before proc2 has sent, after printing.
// The second part is Python's one-way pipe, Pipe(duplex=False): mp.Pipe with mp.OneWay(), whose
// first end only receives and second only sends.
//
//	go run ./examples/pipe_duplex
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/mp-go/mp"
)

// Proc1 is Python's proc1(pipe): send, then receive.
var Proc1 = mp.Register("pipe_duplex.proc1", func(ctx context.Context, pipe *mp.Conn[string]) (struct{}, error) {
	defer pipe.Close()
	if err := pipe.Send(ctx, "hello"); err != nil { // pipe.send('hello')
		return struct{}{}, err
	}
	msg, err := pipe.Recv(ctx)
	if err != nil {
		return struct{}{}, err
	}
	fmt.Printf("proc1 (pid %d) rec: %s\n", os.Getpid(), msg) // print('proc1 rec:', pipe.recv())
	return struct{}{}, nil
})

// Proc2 is Python's proc2(pipe): receive, then send.
var Proc2 = mp.Register("pipe_duplex.proc2", func(ctx context.Context, pipe *mp.Conn[string]) (struct{}, error) {
	defer pipe.Close()
	msg, err := pipe.Recv(ctx)
	if err != nil {
		return struct{}{}, err
	}
	fmt.Printf("proc2 (pid %d) rec: %s\n", os.Getpid(), msg) // print('proc2 rec:', pipe.recv())
	return struct{}{}, pipe.Send(ctx, "hello, too")          // pipe.send('hello, too')
})

// Writer sends one message on the send-only end of a one-way pipe.
var Writer = mp.Register("pipe_duplex.writer", func(ctx context.Context, w *mp.Conn[string]) (struct{}, error) {
	defer w.Close()
	return struct{}{}, w.Send(ctx, fmt.Sprintf("one way, from pid %d", os.Getpid()))
})

func main() {
	mp.Init()
	defer mp.Cleanup()
	ctx := context.Background()

	fmt.Println("== a duplex pipe between two processes ==")
	a, b, err := mp.Pipe[string]() // pipe = mul.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	p1 := mp.NewProcess(Proc1, a) // Process(target=proc1, args=(pipe[0],))
	p2 := mp.NewProcess(Proc2, b) // Process(target=proc2, args=(pipe[1],))
	for _, p := range []*mp.Process{p1, p2} {
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// The children have their own copies of the ends; the main process does not use them.
	a.Close()
	b.Close()
	fmt.Printf("main pid=%d: started proc1 (pid %d) with one end, proc2 (pid %d) with the other\n", os.Getpid(), p1.Pid(), p2.Pid())
	for _, p := range []*mp.Process{p1, p2} {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}

	fmt.Println("== a one-way pipe: Pipe(duplex=False) ==")
	r, w, err := mp.Pipe[string](mp.OneWay())
	if err != nil {
		log.Fatal(err)
	}
	p := mp.NewProcess(Writer, w)
	if err := p.Start(ctx); err != nil {
		log.Fatal(err)
	}
	w.Close()
	msg, err := r.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("main: received %q from the writer (pid %d)\n", msg, p.Pid())
	err = r.Send(ctx, "back")
	fmt.Printf("main: Send on the receiving end: %v (errors.Is(err, mp.ErrInvalidOption) = %t)\n", err, errors.Is(err, mp.ErrInvalidOption))
	r.Close()
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
}
