//go:build linux

package mpnats_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// TestCloseLeavesNothing: a cluster that ran work — an embedded server listening on loopback,
// a pool, an agent with its worker processes, a big value through the Object Store — leaves,
// once closed, no store directory and no descriptor of this process open (goroutines and
// children are checked by TestMain).
func TestCloseLeavesNothing(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	ctx := ctxT(t)
	before := fds()
	c, err := mpnats.Start(ctx, mpnats.WithListen("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	dir := mpnats.StoreDir(c)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the store directory %q: %v", dir, err)
	}
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, c, mpnats.WithSlots(2)) }()
	p, err := mpnats.NewPool(ctx, c, "close")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Map(ctx, p, Square, []int{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if b, err := mp.Apply(ctx, p, Echo, make([]byte, 3<<20)); err != nil || len(b) != 3<<20 {
		t.Fatalf("Echo of 3 MiB = %d bytes, %v", len(b), err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the store directory %q is still there after Close (%v)", dir, err)
	}
	// Descriptors close as their goroutines end: give them a bounded moment.
	deadline := time.Now().Add(5 * time.Second)
	for fds() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := fds(); after > before {
		t.Errorf("%d descriptors open before the cluster, %d after Close", before, after)
	}
}
