// Command tcp_prefork is a pre-forked TCP server, the other classic shape of a multi-process
// server. Run it with -rounds 2 and you see K worker processes start, each client greeted by a
// different worker's pid in every round, and each worker exit after serving its connections.
//
// Instead of starting a child per accepted connection (examples/tcp_echo), the parent creates the
// listener, starts K worker processes up front, and hands each of them the same net.Listener in
// its task argument; every worker accepts on it and serves its connections one at a time (it
// greets the client with its pid and echoes its lines). The kernel gives each new connection to
// one of the workers waiting in Accept, so no process is started per connection. In Python this
// is a listening socket handed to K processes, Process(target=worker, args=(sk,)), each calling
// sk.accept() in a loop.
//
// A listener in a task argument reaches the child as a working listener over the same socket
// (mpnet passes its descriptor); the parent closes its own copy once the workers have theirs: it
// no longer accepts, and the socket lives on in the workers. Address reuse needs nothing: Go's
// net.Listen sets SO_REUSEADDR already (see examples/tcp_echo).
//
// With -rounds R, the program runs clients against its own server: in each round, K clients
// connect at the same time and keep their connections open until all K have been greeted. A worker
// serves one connection at a time, so the K greetings come from K different workers — every
// worker serves one connection per round — and each worker exits after its R connections:
//
//	go run ./examples/tcp_prefork                        # 3 workers on 127.0.0.1:9000 until Ctrl-C
//	go run ./examples/tcp_prefork -rounds 2 -workers 4   # a free port, 2 rounds of 4 clients, then exit
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp"
	_ "github.com/mp-go/mp/mpnet" // lets a net.Listener travel in a task argument
)

// WorkerArg is what every worker receives: the shared listener, and how many connections to
// serve before exiting (0: for ever).
type WorkerArg struct {
	L   net.Listener
	Max int
}

// Worker accepts connections on the shared listener and serves them one after the other.
var Worker = mp.Register("tcp_prefork.worker", func(ctx context.Context, a WorkerArg) (struct{}, error) {
	defer a.L.Close()
	pid := os.Getpid()
	fmt.Printf("worker pid=%d ppid=%d: accepting on %s\n", pid, os.Getppid(), a.L.Addr())
	for n := 1; a.Max == 0 || n <= a.Max; n++ {
		conn, err := a.L.Accept()
		if err != nil {
			return struct{}{}, err
		}
		if err := serve(conn, pid, n); err != nil {
			return struct{}{}, err
		}
	}
	fmt.Printf("worker pid=%d: served its %d connections; exiting\n", pid, a.Max)
	return struct{}{}, nil
})

// serve greets the client and echoes its lines until it closes its side.
func serve(conn net.Conn, pid, n int) error {
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "hello from worker pid %d\n", pid); err != nil {
		return err
	}
	sc := bufio.NewScanner(conn)
	lines := 0
	for sc.Scan() {
		if _, err := fmt.Fprintln(conn, sc.Text()); err != nil {
			return err
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Printf("worker pid=%d: its connection #%d from %s: echoed %d lines\n", pid, n, conn.RemoteAddr(), lines)
	return nil
}

func main() {
	mp.Init()
	defer mp.Cleanup()

	addr := flag.String("addr", "", "address to listen on (default 127.0.0.1:9000, or a free port with -rounds)")
	workers := flag.Int("workers", 3, "worker processes")
	rounds := flag.Int("rounds", 0, "rounds of clients to run against the server, then exit; 0 serves until Ctrl-C")
	lines := flag.Int("lines", 2, "lines each client sends")
	flag.Parse()
	if *addr == "" {
		*addr = "127.0.0.1:9000"
		if *rounds > 0 {
			*addr = "127.0.0.1:0"
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	ln, err := net.Listen("tcp", *addr) // SO_REUSEADDR is set by Go
	if err != nil {
		log.Fatal(err)
	}
	address := ln.Addr().String()
	var ps []*mp.Process
	var pids []int
	for range *workers {
		p := mp.NewProcess(Worker, WorkerArg{L: ln, Max: *rounds})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
		pids = append(pids, p.Pid())
	}
	ln.Close() // the workers have their own copies and accept; this process no longer does
	fmt.Printf("server pid=%d: listening on %s; started %d workers %v and closed my copy of the listener\n",
		os.Getpid(), address, len(ps), pids)

	if *rounds == 0 {
		<-ctx.Done()
		fmt.Println("server: interrupted; terminating the workers")
		for _, p := range ps {
			p.Terminate()
		}
	}
	for r := 1; r <= *rounds; r++ {
		greeters, err := round(address, r, *workers, *lines)
		if err != nil {
			log.Fatal(err)
		}
		slices.Sort(greeters)
		fmt.Printf("round %d: %d clients served by %d different workers %v\n", r, len(greeters), len(slices.Compact(greeters)), greeters)
	}
	for _, p := range ps {
		if err := p.Wait(context.Background()); err != nil && *rounds > 0 {
			log.Fatalf("worker pid %d: %v", p.Pid(), err)
		}
		fmt.Printf("server: worker pid=%d exited, exit code %d\n", p.Pid(), p.ExitCode())
	}
	fmt.Printf("server: shut down; running children: %d\n", len(mp.ActiveChildren()))
}

// round runs n clients at the same time. Each connects and reads its greeting; once all n have
// been greeted, each sends its lines, checks the echoes and closes. It returns the pids of the
// workers that greeted them.
func round(addr string, r, n, lines int) ([]int, error) {
	var greeted, wg sync.WaitGroup
	greeted.Add(n)
	release := make(chan struct{})
	pids := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			pids[i], errs[i] = client(addr, fmt.Sprintf("round %d client %d", r, i+1), lines, greeted.Done, release)
		})
	}
	greeted.Wait()
	close(release)
	wg.Wait()
	return pids, errors.Join(errs...)
}

// client connects, reads the greeting and calls greeted (in every case), waits for release, then
// sends its lines and checks that they come back. It returns the pid that greeted it.
func client(addr, name string, lines int, greeted func(), release <-chan struct{}) (int, error) {
	once := sync.OnceFunc(greeted)
	defer once()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a safety net: never hang on a broken server
	rd := bufio.NewReader(c)
	greeting, err := rd.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("%s: reading the greeting: %w", name, err)
	}
	var pid int
	if _, err := fmt.Sscanf(greeting, "hello from worker pid %d\n", &pid); err != nil {
		return 0, fmt.Errorf("%s: greeting %q: %w", name, greeting, err)
	}
	once()
	<-release // keep this connection, and so its worker, busy until every client has been greeted
	for i := 1; i <= lines; i++ {
		msg := fmt.Sprintf("line %d of %s", i, name)
		if _, err := fmt.Fprintln(c, msg); err != nil {
			return pid, err
		}
		echo, err := rd.ReadString('\n')
		if err != nil {
			return pid, fmt.Errorf("%s: reading the echo of line %d: %w", name, i, err)
		}
		if echo = strings.TrimSuffix(echo, "\n"); echo != msg {
			return pid, fmt.Errorf("%s: sent %q, got back %q", name, msg, echo)
		}
	}
	fmt.Printf("%s: greeted by worker pid %d; %d lines echoed back intact\n", name, pid, lines)
	return pid, nil
}
