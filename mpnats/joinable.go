package mpnats

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/mp-go/mp"
	"github.com/nats-io/nats.go/jetstream"
)

// JoinableQueue is a Queue whose consumers mark each value done: mp.JoinableQueue's API across
// hosts. Get hands a value over without acknowledging it; TaskDone acknowledges it, and Join waits
// until every value put has been marked done. While a live consumer holds a value, its handle
// tells the server every third of the ack wait that the value is in progress, so a long task is
// never given to another consumer meanwhile; a consumer that dies holding values (killed, its
// host cut off) stops doing so, and the server gives them to other consumers after the ack wait.
// So no value is lost with a dead consumer (unlike mp.JoinableQueue, whose Join writes such
// values off): Join waits for them to be got again and done.
//
// Close the handle when done: it runs a goroutine for the in-progress heartbeats, and Close hands
// the values it holds and has not marked done back to the queue at once.
type JoinableQueue[T any] struct{ q *queueCore }

// NewJoinableQueue opens the joinable queue called name on c, making it if it does not exist, as
// NewQueue does.
func NewJoinableQueue[T any](ctx context.Context, c *Cluster, name string, opts ...QueueOption) (*JoinableQueue[T], error) {
	q, err := openQueue[T](ctx, c, "NewJoinableQueue", "joinable", name, opts)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{q: q}, nil
}

// Put puts v on the queue, as Queue.Put does.
func (q *JoinableQueue[T]) Put(ctx context.Context, v T) error { return putValue(ctx, q.q, v, false) }

// TryPut puts v if there is room now, as Queue.TryPut does.
func (q *JoinableQueue[T]) TryPut(ctx context.Context, v T) error { return putValue(ctx, q.q, v, true) }

// Get takes the oldest value, as Queue.Get does, but leaves it unacknowledged, held by this
// handle until TaskDone. A value that does not decode into T is acknowledged (it would never
// decode) and reported as an mp.ErrDecode error; it needs no TaskDone.
func (q *JoinableQueue[T]) Get(ctx context.Context) (T, error) { return q.get(ctx, false) }

// TryGet takes the oldest value if there is one now, as Queue.TryGet does; mark it done with
// TaskDone.
func (q *JoinableQueue[T]) TryGet(ctx context.Context) (T, error) { return q.get(ctx, true) }

func (q *JoinableQueue[T]) get(ctx context.Context, try bool) (T, error) {
	var v T
	m, err := q.q.get(ctx, try)
	if err != nil {
		return v, err
	}
	if err := decode("value from a queue", m.Data(), &v); err != nil {
		_ = m.DoubleAck(ctx)
		return v, err
	}
	q.q.mu.Lock()
	if q.q.closed.Load() {
		q.q.mu.Unlock()
		_ = m.Nak()
		return v, q.q.closedErr("Get")
	}
	q.q.held = append(q.q.held, m)
	q.q.mu.Unlock()
	return v, nil
}

// TaskDone marks done the oldest value this handle got and has not marked done, and returns once
// the server has it. It fails with an error matching mp.ErrNotHeld when the handle holds none
// (TaskDone acknowledges a value to the server, so it must be called on the handle whose Get took
// the value), and with the server's error if the acknowledgement fails: then the value was given
// to another consumer already (this handle's process was cut off longer than the ack wait).
func (q *JoinableQueue[T]) TaskDone(ctx context.Context) error {
	q.q.mu.Lock()
	if len(q.q.held) == 0 {
		q.q.mu.Unlock()
		if q.q.closed.Load() {
			return q.q.closedErr("TaskDone")
		}
		return fmt.Errorf("%w: %s: this handle holds no value that Get took and TaskDone has not marked done", mp.ErrNotHeld, q.q.what("TaskDone"))
	}
	m := q.q.held[0]
	q.q.held = q.q.held[1:]
	q.q.mu.Unlock()
	if err := m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("%s: %w", q.q.what("TaskDone"), err)
	}
	return nil
}

// Held returns the number of values this handle got and has not marked done.
func (q *JoinableQueue[T]) Held() int {
	q.q.mu.Lock()
	defer q.q.mu.Unlock()
	return len(q.q.held)
}

// Join waits until every value put on the queue, by any process, has been marked done, or ctx
// ends. Values held by consumers that died are given to others after the ack wait; Join waits for
// them to be done.
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	pause := time.Millisecond
	for {
		if q.q.closed.Load() {
			return q.q.closedErr("Join")
		}
		s, err := q.q.c.js.Stream(ctx, q.q.stream)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", q.q.what("Join"), err)
		}
		if s.CachedInfo().State.Msgs == 0 {
			return nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Unfinished returns the number of values put and not yet marked done, by any process.
func (q *JoinableQueue[T]) Unfinished(ctx context.Context) (int, error) {
	s, err := q.q.c.js.Stream(ctx, q.q.stream)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", q.q.what("Unfinished"), err)
	}
	return int(s.CachedInfo().State.Msgs), nil
}

// Len returns the number of values waiting in the queue, as Queue.Len does.
func (q *JoinableQueue[T]) Len(ctx context.Context) (int, error) { return q.q.length(ctx) }

// Cap returns the queue's capacity, 0 for no limit.
func (q *JoinableQueue[T]) Cap() int { return q.q.capacity }

// Shutdown shuts the queue down for every process, as Queue.Shutdown does.
func (q *JoinableQueue[T]) Shutdown(ctx context.Context) error { return q.q.shutdown(ctx) }

// IsShutdown reports whether the queue has been shut down (by any process).
func (q *JoinableQueue[T]) IsShutdown(ctx context.Context) (bool, error) {
	return q.q.isShutdown(ctx)
}

// Close releases this handle: it stops its heartbeat goroutine and gives the values it holds
// and has not marked done back to the queue at once, for other consumers. It is idempotent.
func (q *JoinableQueue[T]) Close() error {
	q.q.close()
	return nil
}

// Delete closes this handle and removes the queue, with its values, from the cluster, as
// Queue.Delete does.
func (q *JoinableQueue[T]) Delete(ctx context.Context) error { return q.q.delete(ctx) }

// String describes the queue: `mpnats.JoinableQueue[int]("jobs", cap 10)`.
func (q *JoinableQueue[T]) String() string {
	return fmt.Sprintf("mpnats.JoinableQueue[%v](%q, cap %d)", reflect.TypeFor[T](), q.q.name, q.q.capacity)
}

// heartbeat tells the server, every third of the ack wait, that the values held are in
// progress, until the handle is closed.
func (q *queueCore) heartbeat() {
	defer close(q.done)
	t := time.NewTicker(q.ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
		}
		q.mu.Lock()
		held := append([]jetstream.Msg(nil), q.held...)
		q.mu.Unlock()
		for _, m := range held {
			_ = m.InProgress()
		}
	}
}
