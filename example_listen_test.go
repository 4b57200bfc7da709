//go:build unix

package mp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mp-go/mp"
)

// A Listener and a client with the same auth key: the mutual challenge and response of Python's
// multiprocessing.connection, with which both interoperate. Here both ends are in one process;
// the client is usually another process, perhaps a Python one:
// Client(path, authkey=key).send_bytes(b"...").
func ExampleListen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mp-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	key := []byte("a long random secret, the same on both sides")

	l, err := mp.Listen(ctx, "unix", filepath.Join(dir, "server.sock"), mp.WithAuthKey(key))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	go func() {
		c, err := mp.Dial[string](ctx, "unix", l.Addr(), mp.WithAuthKey(key))
		if err != nil {
			fmt.Println("dial:", err)
			return
		}
		defer c.Close()
		if err := c.Send(ctx, "hello"); err != nil {
			fmt.Println("send:", err)
			return
		}
		reply, err := c.Recv(ctx)
		if err != nil {
			fmt.Println("recv:", err)
			return
		}
		fmt.Println("client got:", reply)
	}()

	c, err := mp.Accept[string](ctx, l)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	msg, err := c.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("server got:", msg)
	if err := c.Send(ctx, msg+", back"); err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Recv(ctx) // until the client closes
	fmt.Println("then:", err)
	// Output:
	// server got: hello
	// client got: hello, back
	// then: EOF
}
