//go:build linux || darwin

package mp_test

import (
	"context"
	"fmt"

	"github.com/mp-go/mp"
)

// A program serves its manager on a TCP address with an auth key, and publishes a Dict; another
// program connects, finds the Dict by name and uses it: Python's BaseManager(address,
// authkey).get_server().serve_forever() and connect(). Here both are in one process; the
// client is usually another program, perhaps on another machine (then give the Listener a
// non-loopback address, and TLS with package mpnet if the network is not trusted).
func ExampleManager_Serve() {
	ctx := context.Background()
	key := []byte("a long random secret, the same on both sides")

	// The serving program.
	m, err := mp.StartManager(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	scores, err := mp.NewDict[string, int](ctx, m)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer scores.Close()
	if err := m.Publish(ctx, "scores", scores); err != nil {
		fmt.Println(err)
		return
	}
	ln, err := mp.Listen(ctx, "tcp", "127.0.0.1:0", mp.WithAuthKey(key))
	if err != nil {
		fmt.Println(err)
		return
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()

	// The connecting program.
	cm, err := mp.ConnectManager(ctx, "tcp", ln.Addr(), mp.WithAuthKey(key))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cm.Close()
	d, err := mp.Lookup[*mp.Dict[string, int]](ctx, cm, "scores")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	if _, err := mp.Add(ctx, d, "alice", 3); err != nil {
		fmt.Println(err)
		return
	}

	v, _, err := scores.Get(ctx, "alice")
	fmt.Println(v, err)
	// Output: 3 <nil>
}
