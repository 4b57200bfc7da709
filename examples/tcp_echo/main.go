// Command tcp_echo is a multi-process TCP server that starts one child process per connection.
// Run it with -clients 3 and you see the server hand each accepted connection to a new child,
// each child print its pid — a different process for every connection — and greet its client,
// and each client check that the lines it sent came back intact.
//
// It mirrors the Python server where the main process listens and accepts, and every accepted
// connection is handed to a new child process, which greets the client, receives from it, and
// closes the connection:
//
//	while True:
//	    conn, addr = sk.accept()
//	    Process(target=func, args=(conn,)).start()
//	    conn.close()
//
// Here each child greets its client and echoes every line it sends. Three rules for such a
// server, in Go:
//
//  1. Address reuse: Python sets SO_REUSEADDR, so that a restarted server can bind its port at
//     once while the connections of the previous one are in TIME_WAIT. Go's net.Listen sets
//     SO_REUSEADDR on every TCP listener already (on Unix), so there is nothing to do.
//  2. Closing sockets: a net.Conn in a task argument reaches the child as a working connection
//     over the same socket (mpnet passes its descriptor). The parent closes its own copy at once:
//     the connection lives on in the child, and the client sees its end when the child closes it.
//     The parent closes the listener when it stops serving (Python's finally: sk.close()).
//  3. No input() in a child: Python gives a child no standard input. An mp child shares its
//     parent's, but a server child has no use for it: it talks to its client over the connection.
//
// Python's client is a separate program that reads what the server sends and sends a line typed
// by the user; here -clients N runs N such clients against the server in this process, and then
// shuts the server down. The clients keep their connections open until all of them have been
// greeted — N children serving at the same time — then each sends its lines and checks that they
// come back intact:
//
//	go run ./examples/tcp_echo              # serve on 127.0.0.1:9000 until Ctrl-C (try nc 127.0.0.1 9000)
//	go run ./examples/tcp_echo -clients 3   # serve on a free port, run 3 clients, shut down
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp"
	_ "github.com/mp-go/mp/mpnet" // lets a net.Conn travel in a task argument
)

// ServeArg is what the parent hands to a child: the accepted connection, and its number.
type ServeArg struct {
	Conn net.Conn
	N    int
}

// Serve is Python's func(conn), run in a new child for every connection: it greets the client,
// echoes each line it receives until the client closes its side, then closes the connection.
var Serve = mp.Register("tcp_echo.serve", func(ctx context.Context, a ServeArg) (struct{}, error) {
	defer a.Conn.Close() // conn.close()
	pid := os.Getpid()
	fmt.Printf("child pid=%d ppid=%d: serving connection #%d from %s\n", pid, os.Getppid(), a.N, a.Conn.RemoteAddr())
	if _, err := fmt.Fprintf(a.Conn, "hello from pid %d\n", pid); err != nil { // conn.send(b'hello')
		return struct{}{}, err
	}
	sc := bufio.NewScanner(a.Conn)
	lines := 0
	for sc.Scan() { // data = conn.recv(1024)
		fmt.Printf("child pid=%d: connection #%d: echo %q\n", pid, a.N, sc.Text())
		if _, err := fmt.Fprintln(a.Conn, sc.Text()); err != nil {
			return struct{}{}, err
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		return struct{}{}, err
	}
	fmt.Printf("child pid=%d: connection #%d: the client closed it after %d lines; exiting\n", pid, a.N, lines)
	return struct{}{}, nil
})

func main() {
	mp.Init()
	defer mp.Cleanup()

	addr := flag.String("addr", "", "address to listen on (default 127.0.0.1:9000, or a free port with -clients)")
	clients := flag.Int("clients", 0, "run this many clients against the server, then shut it down; 0 serves until Ctrl-C")
	lines := flag.Int("lines", 3, "lines each client sends")
	flag.Parse()
	if *addr == "" {
		*addr = "127.0.0.1:9000"
		if *clients > 0 {
			*addr = "127.0.0.1:0"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// sk = socket.socket(); sk.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1); sk.bind(...); sk.listen(5):
	// net.Listen does all of it, SO_REUSEADDR included.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server pid=%d: listening on %s\n", os.Getpid(), ln.Addr())

	type served struct {
		children []*mp.Process
		err      error
	}
	done := make(chan served, 1)
	go func() {
		children, err := acceptLoop(ctx, ln)
		done <- served{children, err}
	}()

	if *clients > 0 {
		if err := runClients(ln.Addr().String(), *clients, *lines); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("all %d clients got their lines back; closing the listener\n", *clients)
	} else {
		select {
		case <-ctx.Done():
			fmt.Println("server: interrupted; closing the listener")
		case s := <-done: // the accept loop ended on its own: an error
			log.Fatal(s.err)
		}
	}
	ln.Close() // finally: sk.close()
	s := <-done
	if s.err != nil {
		log.Fatal(s.err)
	}

	// Each child ends when its client closes the connection; on Ctrl-C, those still serving are
	// terminated.
	for _, p := range s.children {
		if ctx.Err() != nil {
			p.Terminate()
		}
		err := p.Wait(context.Background())
		if err != nil && ctx.Err() == nil {
			log.Fatalf("child pid %d: %v", p.Pid(), err)
		}
		fmt.Printf("server: child pid=%d exited, exit code %d\n", p.Pid(), p.ExitCode())
	}
	fmt.Printf("server: shut down; %d connections were served by %d child processes; running children: %d\n",
		len(s.children), len(s.children), len(mp.ActiveChildren()))
}

// acceptLoop accepts connections until the listener is closed, handing each to a new child
// process, and returns the children it started.
func acceptLoop(ctx context.Context, ln net.Listener) ([]*mp.Process, error) {
	var children []*mp.Process
	for n := 1; ; n++ {
		conn, err := ln.Accept() // con, addr = sk.accept()
		if errors.Is(err, net.ErrClosed) {
			return children, nil
		}
		if err != nil {
			return children, err
		}
		p := mp.NewProcess(Serve, ServeArg{Conn: conn, N: n}) // Process(target=func, args=(con,))
		err = p.Start(ctx)
		// The child has its own copy of the connection (or none, if Start failed): close ours.
		// Keeping it open would hold the connection open after the child closes it — the client
		// would never see its end — and leak a descriptor per connection.
		conn.Close()
		if err != nil {
			return children, err
		}
		children = append(children, p)
		fmt.Printf("server: connection #%d from %s handed to child pid=%d; closed my copy\n", n, conn.RemoteAddr(), p.Pid())
	}
}

// runClients runs n clients at the same time, each like Python's client: it connects, reads the
// server's greeting, then sends lines and checks that each one comes back. Every client keeps its
// connection open until all n have been greeted: the n children serve at the same time.
func runClients(addr string, n, lines int) error {
	var greeted, wg sync.WaitGroup
	greeted.Add(n)
	release := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = client(addr, i+1, lines, greeted.Done, release) })
	}
	greeted.Wait()
	fmt.Printf("all %d clients have been greeted: %d connections open at once\n", n, n)
	close(release)
	wg.Wait()
	return errors.Join(errs...)
}

// client connects, reads the greeting and calls greeted (in every case), waits for release, then
// sends its lines and checks that they come back.
func client(addr string, id, lines int, greeted func(), release <-chan struct{}) error {
	once := sync.OnceFunc(greeted)
	defer once()
	c, err := net.Dial("tcp", addr) // sk.connect(('127.0.0.1', 9000))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a safety net: never hang on a broken server
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n') // data = sk.recv(1024); print(data)
	if err != nil {
		return fmt.Errorf("client %d: reading the greeting: %w", id, err)
	}
	fmt.Printf("client %d: greeted with %q\n", id, strings.TrimSpace(greeting))
	once()
	<-release
	for i := 1; i <= lines; i++ {
		msg := fmt.Sprintf("line %d of client %d", i, id)
		if _, err := fmt.Fprintln(c, msg); err != nil { // sk.send(msg)
			return err
		}
		echo, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("client %d: reading the echo of line %d: %w", id, i, err)
		}
		if echo = strings.TrimSuffix(echo, "\n"); echo != msg {
			return fmt.Errorf("client %d: sent %q, got back %q", id, msg, echo)
		}
	}
	fmt.Printf("client %d: %d lines echoed back intact\n", id, lines)
	return nil
}
