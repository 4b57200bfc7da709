//go:build linux || darwin

package mp_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

type CountDict = *mp.Dict[string, int]

var (
	// MgrFromQueue takes a dict off the queue and adds 1 to its "n".
	MgrFromQueue = mp.Register("test.mgr.from_queue", func(ctx context.Context, q *mp.Queue[CountDict]) (int, error) {
		d, err := q.Get(ctx)
		if err != nil {
			return 0, err
		}
		defer d.Close()
		return mp.Add(ctx, d, "n", 1)
	})
	// MgrFromConn receives a dict over the Conn and adds 1 to its "n".
	MgrFromConn = mp.Register("test.mgr.from_conn", func(ctx context.Context, c *mp.Conn[CountDict]) (int, error) {
		d, err := c.Recv(ctx)
		if err != nil {
			return 0, err
		}
		defer d.Close()
		return mp.Add(ctx, d, "n", 1)
	})
	// MgrAddEach adds 1 to "n" through each proxy of ds, and returns how many it used.
	MgrAddEach = mp.Register("test.mgr.add_each", func(ctx context.Context, ds []CountDict) (int, error) {
		for _, d := range ds {
			if _, err := mp.Add(ctx, d, "n", 1); err != nil {
				return 0, err
			}
		}
		return len(ds), nil
	})
)

// TestManagerProxyTravels: a proxy arrives working through a pool call, a Queue and a Conn.
func TestManagerProxyTravels(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)

	p, err := mp.NewPool(ctx, mp.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := mp.Apply(ctx, p, MgrAddEach, []CountDict{d, d}); err != nil {
		t.Fatalf("a proxy in a pool call: %v", err)
	}
	if st, _ := m.Stats(ctx); st.Connections != 2 {
		t.Fatalf("%d connections with a pool worker that used two proxies, want 2: one per process", st.Connections)
	}

	q, err := mp.NewQueue[CountDict](1)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Put(ctx, d); err != nil {
		t.Fatalf("a proxy on a Queue: %v", err)
	}
	if _, err := mp.Run(ctx, MgrFromQueue, q); err != nil {
		t.Fatalf("a proxy taken off a Queue: %v", err)
	}

	a, b, err := mp.Pipe[CountDict]()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	child := mp.NewProcess(MgrFromConn, b)
	if err := child.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := a.Send(ctx, d); err != nil {
		t.Fatalf("a proxy over a Conn: %v", err)
	}
	if err := child.Wait(ctx); err != nil {
		t.Fatalf("a proxy received over a Conn: %v", err)
	}
	if n, _, err := d.Get(ctx, "n"); n != 4 || err != nil {
		t.Fatalf("n = %d, %v; want 4 (2 by the pool worker, 1 each by the others)", n, err)
	}
}

// TestManagerHostilePeers: a peer without the token, one that floods the hello, and one that
// announces a huge frame are each cut off, and the manager serves on.
func TestManagerHostilePeers(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	addr := mp.ManagerAddr(m)
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	closedByServer := func(c net.Conn, what string) {
		t.Helper()
		var b [64]byte
		n, err := c.Read(b[:])
		if !errors.Is(err, io.EOF) && (err == nil || !strings.Contains(err.Error(), "reset")) {
			t.Fatalf("%s: read %q, %v; want the manager to close the connection", what, b[:n], err)
		}
		c.Close()
	}

	c := dial()
	c.Write([]byte("mpmgr\x00\x00\x01" + strings.Repeat("x", 32)))
	closedByServer(c, "a wrong token")

	c = dial()
	go c.Write(make([]byte, 1<<20)) // the server reads 40 bytes of it, then hangs up
	closedByServer(c, "a flood before the hello")

	// A connection that knows the token but sends a frame header announcing 4 GiB.
	d := newDict[string, int](t, m)
	if err := d.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	tok := mp.ManagerToken(m)
	c = dial()
	c.Write(append([]byte("mpmgr\x00\x00\x01"), tok...))
	var welcome [8]byte
	if _, err := io.ReadFull(c, welcome[:]); err != nil || string(welcome[:]) != "mpmgr-ok" {
		t.Fatalf("welcome %q, %v", welcome[:], err)
	}
	hdr := binary.LittleEndian.AppendUint32(nil, 0xffffffff)
	c.Write(append(hdr, make([]byte, 9)...))
	closedByServer(c, "a frame of 4 GiB")
	waitFor(t, "the hostile connections to be gone", func() bool {
		st, err := m.Stats(ctx)
		return err == nil && st.Connections == 1
	})
	if v, _, err := d.Get(ctx, "k"); v != 1 || err != nil {
		t.Fatalf("the manager after hostile peers: %d, %v", v, err)
	}
}
