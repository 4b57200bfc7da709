//go:build unix

package mpnats_test

import (
	"context"
	"testing"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/mpnats"
)

// A ctx without a deadline (what a program's main has) is fine for Start, Serve and NewPool.
func TestPoolCtxWithoutDeadline(t *testing.T) {
	ctx := context.Background()
	c, err := mpnats.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	actx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- mpnats.Serve(actx, c, mpnats.WithSlots(1)) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	p, err := mpnats.NewPool(ctx, c, "nodeadline")
	if err != nil {
		t.Fatalf("NewPool with a ctx without a deadline: %v", err)
	}
	defer p.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if v, err := mp.Apply(wctx, p, Square, 5); v != 25 || err != nil {
		t.Fatalf("Apply: %d, %v", v, err)
	}
}
