//go:build unix

package mpnet_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
	_ "github.com/mp-go/mp/mpnet"
	"github.com/mp-go/mp/mptest"
)

func TestMain(m *testing.M) { mptest.Main(m) }

// ServeArg hands a child one connection.
type ServeArg struct {
	C net.Conn
}

// AcceptArg hands a child a listener shared with others.
type AcceptArg struct {
	L net.Listener
	N int
}

var (
	// ServeOne answers one line on the connection with the child's pid.
	ServeOne = mp.Register("mpnet_test.serve", func(ctx context.Context, a ServeArg) (struct{}, error) {
		defer a.C.Close()
		line, err := bufio.NewReader(a.C).ReadString('\n')
		if err != nil {
			return struct{}{}, err
		}
		_, err = fmt.Fprintf(a.C, "%d %s", os.Getpid(), line)
		return struct{}{}, err
	})
	// AcceptN accepts N connections on the shared listener and answers each with its pid.
	AcceptN = mp.Register("mpnet_test.accept", func(ctx context.Context, a AcceptArg) (struct{}, error) {
		defer a.L.Close()
		for range a.N {
			c, err := a.L.Accept()
			if err != nil {
				return struct{}{}, err
			}
			fmt.Fprintf(c, "%d\n", os.Getpid())
			c.Close()
		}
		return struct{}{}, nil
	})
	// TCPConnArg checks a concrete type arrives as itself.
	TCPConnType = mp.Register("mpnet_test.tcpconn", func(ctx context.Context, c *net.TCPConn) (string, error) {
		defer c.Close()
		return c.RemoteAddr().Network(), nil
	})
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnToChild(t *testing.T) {
	ctx := ctxT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := mp.NewProcess(ServeOne, ServeArg{C: server})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	server.Close() // the child has its own
	fmt.Fprintf(client, "hello\n")
	line, err := bufio.NewReader(client).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d hello\n", p.Pid()); line != want {
		t.Fatalf("reply %q; want %q (served by the child)", line, want)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSharedListener(t *testing.T) {
	ctx := ctxT(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const children, each = 2, 3
	var ps []*mp.Process
	for range children {
		p := mp.NewProcess(AcceptN, AcceptArg{L: ln, N: each})
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	ln.Close() // the children accept; the parent no longer does
	pids := map[string]int{}
	for range children * each {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		pids[strings.TrimSpace(line)]++
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if pids[fmt.Sprint(p.Pid())] != each {
			t.Errorf("child %d served %d connections; want %d (all: %v)", p.Pid(), pids[fmt.Sprint(p.Pid())], each, pids)
		}
	}
}

func TestConcreteType(t *testing.T) {
	ctx := ctxT(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	client, _ := net.Dial("tcp", ln.Addr().String())
	defer client.Close()
	server, _ := ln.Accept()
	defer server.Close()
	got, err := mp.Run(ctx, TCPConnType, server.(*net.TCPConn))
	if err != nil || got != "tcp" {
		t.Fatalf("Run with a *net.TCPConn = %q, %v", got, err)
	}
}

func TestConnWithoutDescriptor(t *testing.T) {
	ctx := ctxT(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	p := mp.NewProcess(ServeOne, ServeArg{C: a})
	if err := p.Start(ctx); !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "descriptor") {
		t.Fatalf("Start with a net.Pipe conn: %v; want ErrEncode about descriptors", err)
	}
}
