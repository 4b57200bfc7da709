package mpnats

import (
	"context"
	"testing"
	"time"
)

// ObjectsLeft returns how many objects the cluster's object store holds.
func ObjectsLeft(t *testing.T, p *Pool) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := p.c.obj.List(ctx)
		if err != nil && err.Error() != "nats: no objects found" {
			t.Fatal(err)
		}
		if len(list) == 0 || time.Now().After(deadline) {
			return len(list)
		}
		time.Sleep(20 * time.Millisecond) // deletes run after the Future completes
	}
}
