package mpnats

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

type item struct {
	ID   int
	Text string
}

func TestQueueLocal(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	q, err := NewQueue[item](ctx, c, "local", WithCapacity(3))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.TryGet(ctx); !errors.Is(err, mp.ErrQueueEmpty) {
		t.Fatalf("TryGet on an empty queue: %v; want ErrQueueEmpty", err)
	}
	for i := range 3 {
		if err := q.Put(ctx, item{i, fmt.Sprint("v", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.TryPut(ctx, item{9, "x"}); !errors.Is(err, mp.ErrQueueFull) {
		t.Fatalf("TryPut on a full queue: %v; want ErrQueueFull", err)
	}
	if n, err := q.Len(ctx); err != nil || n != 3 {
		t.Fatalf("Len = %d, %v; want 3", n, err)
	}
	// A Put on a full queue waits until a Get makes room.
	putDone := make(chan error, 1)
	go func() { putDone <- q.Put(ctx, item{3, "v3"}) }()
	select {
	case err := <-putDone:
		t.Fatalf("Put on a full queue returned %v before any Get", err)
	case <-time.After(200 * time.Millisecond):
	}
	for i := range 4 {
		v, err := q.Get(ctx)
		if err != nil || v.ID != i || v.Text != fmt.Sprint("v", i) {
			t.Fatalf("Get #%d = %+v, %v; want {%d v%d}", i, v, err, i, i)
		}
		if i == 0 {
			if err := <-putDone; err != nil {
				t.Fatalf("the waiting Put: %v", err)
			}
		}
	}
	// A Get with a ctx that ends returns ctx's error.
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := q.Get(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get on an empty queue with a 300ms ctx: %v", err)
	}
	cancel()

	// Shutdown: Put fails, Get drains then fails; a waiting Get is woken.
	if err := q.Put(ctx, item{10, "last"}); err != nil {
		t.Fatal(err)
	}
	other, err := NewQueue[item](ctx, c, "local")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Cap() != 3 {
		t.Fatalf("a second handle's Cap = %d; want the queue's 3", other.Cap())
	}
	if err := other.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Put(ctx, item{11, "late"}); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Put after Shutdown: %v; want ErrClosed", err)
	}
	if v, err := q.Get(ctx); err != nil || v.ID != 10 {
		t.Fatalf("Get after Shutdown = %+v, %v; want the value left", v, err)
	}
	start := time.Now()
	if _, err := q.Get(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Get on a shut down, empty queue: %v; want ErrClosed", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Get took %v to see the shutdown", d)
	}
	if shut, err := q.IsShutdown(ctx); err != nil || !shut {
		t.Fatalf("IsShutdown = %v, %v", shut, err)
	}
	q.Close()
	if _, err := q.Get(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Get on a closed handle: %v; want ErrClosed", err)
	}
	again, err := NewQueue[item](ctx, c, "local")
	if err != nil {
		t.Fatalf("NewQueue on a shut down queue's name: %v", err)
	}
	if shut, err := again.IsShutdown(ctx); err != nil || !shut {
		t.Fatalf("a new handle on a shut down queue: IsShutdown = %v, %v; want true", shut, err)
	}
	again.Close()
	if err := other.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestQueueMisuse(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := NewQueue[int](ctx, c, "bad name"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("a name with a space: %v; want ErrInvalidOption", err)
	}
	if _, err := NewQueue[int](ctx, nil, "x"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("a nil cluster: %v", err)
	}
	if _, err := NewQueue[int](ctx, c, "x", WithCapacity(-1)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("WithCapacity(-1): %v", err)
	}
	if _, err := NewQueue[int](ctx, c, "x", WithAckWait(time.Millisecond)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("WithAckWait(1ms): %v", err)
	}
	type hidden struct{ x int }
	_ = hidden{x: 1}
	if _, err := NewQueue[hidden](ctx, c, "x"); !errors.Is(err, mp.ErrEncode) {
		t.Fatalf("an element type with an unexported field: %v; want ErrEncode", err)
	}
	q, err := NewQueue[int](ctx, c, "kinds", WithCapacity(2))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := NewJoinableQueue[int](ctx, c, "kinds"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("a JoinableQueue on a Queue's name: %v; want ErrInvalidOption", err)
	}
	if _, err := NewQueue[string](ctx, c, "kinds"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("another element type: %v; want ErrInvalidOption", err)
	}
	if _, err := NewQueue[int](ctx, c, "kinds", WithCapacity(5)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("another capacity: %v; want ErrInvalidOption", err)
	}
	if _, err := NewQueue[int](ctx, c, "kinds", WithAckWait(time.Minute)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("another ack wait: %v; want ErrInvalidOption", err)
	}
	if same, err := NewQueue[int](ctx, c, "kinds", WithCapacity(2), WithAckWait(defaultAckWait)); err != nil {
		t.Fatalf("the same options again: %v", err)
	} else {
		same.Close()
	}
	big := make([]byte, 2<<20)
	bq, err := NewQueue[[]byte](ctx, c, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	if err := bq.Put(ctx, big); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("Put of 2 MiB: %v; want ErrTooLarge", err)
	}
	// A value of another type on the wire is a decode error, and is taken.
	if _, err := c.js.Publish(ctx, "mp.queue.kinds", []byte{0xff, 0x00}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(ctx); !errors.Is(err, mp.ErrDecode) {
		t.Fatalf("Get of garbage: %v; want ErrDecode", err)
	}
	if n, err := q.Len(ctx); err != nil || n != 0 {
		t.Fatalf("Len after a garbage Get = %d, %v; want 0", n, err)
	}
}

// putMany puts N values on the queue Name, as a separate process.
var putMany = mp.Register("mpnats_test.putMany", func(ctx context.Context, a childArg) (struct{}, error) {
	c, err := dial(a.URL)
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	q, err := NewQueue[item](ctx, c, a.Name)
	if err != nil {
		return struct{}{}, err
	}
	defer q.Close()
	for i := range a.N {
		if err := q.Put(ctx, item{ID: i, Text: a.Reply}); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
})

// Two producer processes and two consumer goroutines: every value arrives once, in each
// producer's order.
func TestQueueAcrossProcesses(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	url, c := listenServer(t)
	q, err := NewQueue[item](ctx, c, "xproc")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, who := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := mp.Run(ctx, putMany, childArg{URL: url, Name: "xproc", N: n, Reply: who})
			errs <- err
		}()
	}
	got := map[string][]int{}
	var mu sync.Mutex
	var cg sync.WaitGroup
	for range 2 {
		cg.Add(1)
		go func() {
			defer cg.Done()
			for {
				mu.Lock()
				total := len(got["a"]) + len(got["b"])
				mu.Unlock()
				if total >= 2*n {
					return
				}
				gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				v, err := q.Get(gctx)
				cancel()
				if err != nil {
					continue
				}
				mu.Lock()
				got[v.Text] = append(got[v.Text], v.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cg.Wait()
	for _, who := range []string{"a", "b"} {
		ids := got[who]
		if len(ids) != n {
			t.Fatalf("producer %s: got %d values; want %d", who, len(ids), n)
		}
		if !sort.IntsAreSorted(ids) {
			// Two consumers may interleave; per consumer the order holds, so sort and check
			// there is each one once.
			sort.Ints(ids)
		}
		for i, id := range ids {
			if id != i {
				t.Fatalf("producer %s: value %d missing or repeated (at %d: %d)", who, i, i, id)
			}
		}
	}
}

// Values go through mp's codec: complex numbers, nested types and maps arrive as they were put.
func TestQueueCodecValues(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type inner struct{ Z []complex128 }
	type rec struct {
		Z    []complex128
		M    map[string][]int
		Next *inner
	}
	q, err := NewQueue[rec](ctx, c, "codec")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	in := rec{Z: []complex128{1 + 2i, -3i}, M: map[string][]int{"a": {1, 2}}, Next: &inner{Z: []complex128{5}}}
	if err := q.Put(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, err := q.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out.Z, out.M, out.Next.Z) != fmt.Sprint(in.Z, in.M, in.Next.Z) {
		t.Fatalf("Get = %+v; want %+v", out, in)
	}
}

// A Get waiting on an empty queue is woken by a Shutdown made on another handle.
func TestQueueShutdownWakesGet(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := NewQueue[int](ctx, c, "wake")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	other, err := NewQueue[int](ctx, c, "wake")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got := make(chan error, 1)
	go func() {
		_, err := q.Get(ctx)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Get on an empty queue returned %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	if err := other.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, mp.ErrClosed) {
			t.Fatalf("the waiting Get: %v; want ErrClosed", err)
		}
		t.Logf("the waiting Get returned %v after Shutdown", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting Get was not woken within 5 s of Shutdown")
	}
}
