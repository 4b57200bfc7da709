package mpnats

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

func TestJoinableLocal(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := NewJoinableQueue[int](ctx, c, "jl", WithAckWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.TaskDone(ctx); !errors.Is(err, mp.ErrNotHeld) {
		t.Fatalf("TaskDone with nothing held: %v; want ErrNotHeld", err)
	}
	for i := range 3 {
		if err := q.Put(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if v, err := q.Get(ctx); err != nil || v != i {
			t.Fatalf("Get = %d, %v; want %d", v, err, i)
		}
	}
	if q.Held() != 3 {
		t.Fatalf("Held = %d; want 3", q.Held())
	}
	joined := make(chan error, 1)
	go func() { joined <- q.Join(ctx) }()
	for i := range 3 {
		select {
		case err := <-joined:
			t.Fatalf("Join returned %v with %d values not done", err, 3-i)
		case <-time.After(100 * time.Millisecond):
		}
		if n, err := q.Unfinished(ctx); err != nil || n != 3-i {
			t.Fatalf("Unfinished = %d, %v; want %d", n, err, 3-i)
		}
		if err := q.TaskDone(ctx); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-joined:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Join did not return within 10 s of the last TaskDone")
	}

	// A value held past the ack wait by a live handle is not given to another (heartbeats);
	// Close gives it back at once.
	if err := q.Put(ctx, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := NewJoinableQueue[int](ctx, c, "jl")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	deadline := time.Now().Add(2500 * time.Millisecond) // 2.5 ack waits
	for time.Now().Before(deadline) {
		if v, err := other.TryGet(ctx); !errors.Is(err, mp.ErrQueueEmpty) {
			t.Fatalf("another handle's TryGet while the value is held = %d, %v; want ErrQueueEmpty", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	q.Close()
	start := time.Now()
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if v, err := other.Get(gctx); err != nil || v != 42 {
		t.Fatalf("Get after the holder's Close = %d, %v; want 42", v, err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("the closed holder's value came back after %v; want it at once (Nak), before the 1 s ack wait", d)
	}
	if err := other.TaskDone(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Join(ctx); err != nil {
		t.Fatal(err)
	}
}

// holdJoinable takes one value from the joinable queue Name, reports it on the queue Reply, and
// holds it, never calling TaskDone, until it is killed.
var holdJoinable = mp.Register("mpnats_test.holdJoinable", func(ctx context.Context, a childArg) (struct{}, error) {
	c, err := dial(a.URL)
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	q, err := NewJoinableQueue[int](ctx, c, a.Name, WithAckWait(a.Wait))
	if err != nil {
		return struct{}{}, err
	}
	defer q.Close()
	reply, err := NewQueue[int](ctx, c, a.Reply)
	if err != nil {
		return struct{}{}, err
	}
	defer reply.Close()
	v, err := q.Get(ctx)
	if err != nil {
		return struct{}{}, err
	}
	if err := reply.Put(ctx, v); err != nil {
		return struct{}{}, err
	}
	<-ctx.Done()
	return struct{}{}, ctx.Err()
})

// A consumer process killed holding a value: the value is not redelivered while the consumer
// lives (past several ack waits), and is, to another consumer, within the ack wait after the kill.
func TestJoinableKilledConsumer(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	url, c := listenServer(t)
	const ackWait = time.Second
	q, err := NewJoinableQueue[int](ctx, c, "jk", WithAckWait(ackWait))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	reply, err := NewQueue[int](ctx, c, "jk-reply")
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	if err := q.Put(ctx, 7); err != nil {
		t.Fatal(err)
	}
	p := mp.NewProcess(holdJoinable, childArg{URL: url, Name: "jk", Reply: "jk-reply", Wait: ackWait})
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.Kill()
		p.Wait(context.Background())
	}()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if v, err := reply.Get(rctx); err != nil || v != 7 {
		t.Fatalf("the child's report = %d, %v; want 7", v, err)
	}
	// The child holds it, alive, for 2.5 ack waits: nobody else gets it.
	deadline := time.Now().Add(ackWait * 5 / 2)
	for time.Now().Before(deadline) {
		if v, err := q.TryGet(ctx); !errors.Is(err, mp.ErrQueueEmpty) {
			t.Fatalf("TryGet while a live child holds the value = %d, %v; want ErrQueueEmpty", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("the killed child's Wait returned nil")
	}
	gctx, cancel2 := context.WithTimeout(ctx, ackWait+5*time.Second)
	defer cancel2()
	v, err := q.Get(gctx)
	if err != nil || v != 7 {
		t.Fatalf("Get after the holder was killed = %d, %v; want 7 within %v", v, err, ackWait+5*time.Second)
	}
	t.Logf("redelivered %v after the kill (ack wait %v)", time.Since(killed), ackWait)
	if err := q.TaskDone(ctx); err != nil {
		t.Fatal(err)
	}
	jctx, cancel3 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel3()
	if err := q.Join(jctx); err != nil {
		t.Fatal(err)
	}
}
