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

// TaskAckWait returns the ack wait of the cluster's task consumer, as the server has it.
func TaskAckWait(t *testing.T, c *Cluster) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, taskStream, taskConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.Config.AckWait
}

// TaskPending returns how many tasks the server has handed out and not yet had acknowledged
// (NumAckPending), and how many wait in the stream to be handed out (NumPending).
func TaskPending(t *testing.T, c *Cluster) (handedOut, waiting int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, taskStream, taskConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending, int(info.NumPending)
}

// TaskRedeliveries returns how many task deliveries the server has made again (NumRedelivered).
func TaskRedeliveries(t *testing.T, c *Cluster) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := c.js.Consumer(ctx, taskStream, taskConsumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumRedelivered
}

// StoreDir returns the directory of the cluster's embedded server, "" for Connect.
func StoreDir(c *Cluster) string { return c.dir }
