//go:build linux

package mp

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestListenerCloseReady: Close closes the connections that passed their handshake and that
// Accept never returned.
func TestListenerCloseReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(ents)
	}
	before := count()
	key := WithAuthKey([]byte("k"))
	l, err := Listen(ctx, "tcp", "127.0.0.1:0", key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial[int](ctx, "tcp", l.Addr(), key)
	if err != nil {
		t.Fatal(err)
	}
	// The listener's side ends its handshake once it has read the client's #WELCOME#.
	for len(l.ready) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the connection never became ready")
		case <-time.After(time.Millisecond):
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(ctx); err == nil {
		t.Fatal("Recv on a connection whose listener's side was closed worked")
	}
	c.Close()
	if after := count(); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}
