package mpnats

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Queue is a first-in, first-out queue of values of type T shared by processes on any host
// connected to the cluster: mp.Queue's API, on a JetStream work-queue stream. Every handle made
// with the same name on the same cluster is the same queue; a *Queue is safe for concurrent use.
//
// Put returns once the server has stored the value (a JetStream publish acknowledgement; the
// stream is kept on disk): the producer may exit at once and the value is still delivered. Get
// takes the oldest value and acknowledges it before it returns, so a value is delivered to one
// Get. A consumer killed inside Get, after the server handed it a value and before the
// acknowledgement, does not lose it: the server gives it to another Get after the ack wait
// (WithAckWait; 30 s by default). Values are encoded with mp's codec, as mp.Queue's are.
//
// A queue made with WithCapacity(n) holds at most n values (JoinableQueue: n values put and not
// yet marked done); Put then waits, polling, until there is room or its ctx ends, as mp.Queue's
// Put does, and TryPut fails with mp.ErrQueueFull. A value over the server's message limit (1 MiB
// by default) is an mp.ErrTooLarge error.
//
// Shutdown ends the queue for every process: Puts fail with mp.ErrClosed, Gets return what is left
// and then mp.ErrClosed (a waiting Get notices within about half a second). Close releases only
// this handle. The stream lives in the cluster until Delete removes it (or the embedded server's
// store goes with Close of the Cluster that started it).
type Queue[T any] struct{ q *queueCore }

// QueueOption configures NewQueue and NewJoinableQueue. Options given must agree with the queue
// if it exists already: a handle opening an existing queue with another capacity or ack wait
// gets an mp.ErrInvalidOption error; without options it takes the queue's.
type QueueOption interface{ applyQueue(*queueConfig) error }

type queueConfig struct {
	capacity    int
	capacitySet bool
	ackWait     time.Duration
	ackWaitSet  bool
}

type queueOptionFunc func(*queueConfig) error

func (f queueOptionFunc) applyQueue(c *queueConfig) error { return f(c) }

// WithCapacity limits the queue to n values (0: no limit but the server's). A negative n is an
// mp.ErrInvalidOption error.
func WithCapacity(n int) QueueOption {
	return queueOptionFunc(func(c *queueConfig) error {
		if n < 0 {
			return fmt.Errorf("%w: mpnats.WithCapacity(%d): the capacity must be 0 (no limit) or positive", mp.ErrInvalidOption, n)
		}
		c.capacity, c.capacitySet = n, true
		return nil
	})
}

const (
	defaultAckWait = 30 * time.Second
	metaKind       = "mp-kind"
	metaType       = "mp-type"
	metaShutdown   = "mp-shutdown"
	queueConsumer  = "mp"
	getPoll        = 500 * time.Millisecond // how long one pull waits before Get looks for Shutdown
)

// queueCore is a queue's handle without its element type: values as bytes.
type queueCore struct {
	c        *Cluster
	name     string
	stream   string
	subject  string
	kind     string
	typ      string
	capacity int
	ackWait  time.Duration
	cons     jetstream.Consumer
	closed   atomic.Bool

	// JoinableQueue: the messages Gets took and TaskDone has not acknowledged, oldest first,
	// and the goroutine that tells the server they are in progress.
	mu     sync.Mutex
	held   []jetstream.Msg
	stop   chan struct{}
	done   chan struct{}
	closeO sync.Once
}

// NewQueue opens the queue called name on c, making it if it does not exist. name is 1 to 64
// letters, digits, '-' or '_'. T must be a type whose values cross processes intact (as
// mp.NewQueue's); a queue made as a JoinableQueue, or with another element type, is an
// mp.ErrInvalidOption error.
func NewQueue[T any](ctx context.Context, c *Cluster, name string, opts ...QueueOption) (*Queue[T], error) {
	q, err := openQueue[T](ctx, c, "NewQueue", "queue", name, opts)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{q: q}, nil
}

func openQueue[T any](ctx context.Context, c *Cluster, ctor, kind, name string, opts []QueueOption) (*queueCore, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: mpnats.%s with a nil *Cluster", mp.ErrInvalidOption, ctor)
	}
	if err := checkName(ctor, name); err != nil {
		return nil, err
	}
	if err := checkType[T]("mpnats." + ctor); err != nil {
		return nil, err
	}
	var cfg queueConfig
	for _, o := range opts {
		if o != nil {
			if err := o.applyQueue(&cfg); err != nil {
				return nil, err
			}
		}
	}
	q := &queueCore{
		c: c, name: name, kind: kind, typ: reflect.TypeFor[T]().String(),
		stream: "mpq-" + name, subject: "mp.queue." + name,
		capacity: cfg.capacity, ackWait: cfg.ackWait,
	}
	if !cfg.ackWaitSet {
		q.ackWait = defaultAckWait
	}
	sc := jetstream.StreamConfig{
		Name:      q.stream,
		Subjects:  []string{q.subject},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   jetstream.FileStorage,
		Discard:   jetstream.DiscardNew,
		MaxMsgs:   -1,
		Metadata:  map[string]string{metaKind: kind, metaType: q.typ},
	}
	if cfg.capacity > 0 {
		sc.MaxMsgs = int64(cfg.capacity)
	}
	s, err := c.js.CreateStream(ctx, sc)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = c.js.Stream(ctx, q.stream)
		if err == nil {
			err = q.adopt(ctx, s.CachedInfo().Config, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mpnats: %s(%q): %w", ctor, name, err)
	}
	q.cons, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       queueConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.ackWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("mpnats: %s(%q): consumer: %w", ctor, name, err)
	}
	if kind == "joinable" {
		q.stop, q.done = make(chan struct{}), make(chan struct{})
		go q.heartbeat()
	}
	return q, nil
}

// adopt checks that the existing stream is a queue of this kind and element type and agrees
// with the options given, and takes its settings.
func (q *queueCore) adopt(ctx context.Context, sc jetstream.StreamConfig, cfg queueConfig) error {
	if k := sc.Metadata[metaKind]; k != q.kind {
		return fmt.Errorf("%w: the name is taken by a %s, not a %s", mp.ErrInvalidOption, kindName(k), kindName(q.kind))
	}
	if t := sc.Metadata[metaType]; t != q.typ {
		return fmt.Errorf("%w: the queue exists with element type %s, not %s", mp.ErrInvalidOption, t, q.typ)
	}
	have := 0
	if sc.MaxMsgs > 0 {
		have = int(sc.MaxMsgs)
	}
	if cfg.capacitySet && have != cfg.capacity {
		return fmt.Errorf("%w: the queue exists with capacity %d, not %d", mp.ErrInvalidOption, have, cfg.capacity)
	}
	q.capacity = have
	// Take the consumer's ack wait, so that CreateOrUpdateConsumer changes nothing.
	if cons, err := q.c.js.Consumer(ctx, q.stream, queueConsumer); err == nil {
		got := cons.CachedInfo().Config.AckWait
		if cfg.ackWaitSet && got != cfg.ackWait {
			return fmt.Errorf("%w: the queue exists with ack wait %v, not %v", mp.ErrInvalidOption, got, cfg.ackWait)
		}
		q.ackWait = got
	}
	return nil
}

func kindName(k string) string {
	switch k {
	case "queue":
		return "mpnats.Queue"
	case "joinable":
		return "mpnats.JoinableQueue"
	case "":
		return "stream that is not an mpnats queue"
	}
	return k
}

func (q *queueCore) what(op string) string {
	if q.kind == "joinable" {
		return fmt.Sprintf("mpnats: JoinableQueue %q: %s", q.name, op)
	}
	return fmt.Sprintf("mpnats: Queue %q: %s", q.name, op)
}

func (q *queueCore) closedErr(op string) error {
	return fmt.Errorf("%w: %s on a closed handle", mp.ErrClosed, q.what(op))
}

// put stores b, waiting (polling) while the queue is full, unless try.
func (q *queueCore) put(ctx context.Context, b []byte, try bool) error {
	if q.closed.Load() {
		return q.closedErr("Put")
	}
	pause := time.Millisecond
	for {
		_, err := q.c.js.Publish(ctx, q.subject, b, jetstream.WithExpectStream(q.stream))
		switch {
		case err == nil:
			return nil
		case isMaxMsgs(err):
			if try {
				return fmt.Errorf("%w: %s: the queue holds its capacity of %d values", mp.ErrQueueFull, q.what("TryPut"), q.capacity)
			}
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			pause = min(2*pause, 50*time.Millisecond)
			continue
		case errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders):
			if shut, serr := q.isShutdown(ctx); serr == nil && shut {
				return fmt.Errorf("%w: %s: the queue is shut down", mp.ErrClosed, q.what("Put"))
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return wireError(q.what("Put"), err)
	}
}

// get takes the oldest message, waiting until there is one, the queue is shut down and empty,
// or ctx ends; with try it does not wait.
func (q *queueCore) get(ctx context.Context, try bool) (jetstream.Msg, error) {
	for {
		if q.closed.Load() {
			return nil, q.closedErr("Get")
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var batch jetstream.MessageBatch
		var err error
		if try {
			batch, err = q.cons.FetchNoWait(1)
		} else {
			if d, ok := ctx.Deadline(); ok && time.Until(d) < 5*time.Millisecond {
				// Too little time for a pull request (FetchContext refuses one that ends at
				// once): wait it out.
				<-ctx.Done()
				return nil, ctx.Err()
			}
			fctx, cancel := context.WithTimeout(ctx, getPoll)
			batch, err = q.cons.Fetch(1, jetstream.FetchContext(fctx))
			if err == nil {
				for m := range batch.Messages() {
					cancel()
					return m, nil
				}
				err = batch.Error()
			}
			cancel()
		}
		if try && err == nil {
			for m := range batch.Messages() {
				return m, nil
			}
			err = batch.Error()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("%s: %w", q.what("Get"), err)
		}
		// Nothing came: is the queue shut down and empty?
		shut, err := q.isShutdown(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%s: %w", q.what("Get"), err)
		}
		if shut {
			ci, err := q.cons.Info(ctx)
			if err == nil && ci.NumPending == 0 {
				return nil, fmt.Errorf("%w: %s: the queue is shut down and empty", mp.ErrClosed, q.what("Get"))
			}
		}
		if try {
			return nil, fmt.Errorf("%w: %s", mp.ErrQueueEmpty, q.what("TryGet"))
		}
	}
}

func (q *queueCore) isShutdown(ctx context.Context) (bool, error) {
	s, err := q.c.js.Stream(ctx, q.stream)
	if err != nil {
		return false, err
	}
	return s.CachedInfo().Config.Metadata[metaShutdown] != "", nil
}

// shutdown marks the stream shut down and moves it off the subject Put publishes to, so that a
// publish finds no stream (and Put reports mp.ErrClosed).
func (q *queueCore) shutdown(ctx context.Context) error {
	if q.closed.Load() {
		return q.closedErr("Shutdown")
	}
	s, err := q.c.js.Stream(ctx, q.stream)
	if err != nil {
		return fmt.Errorf("%s: %w", q.what("Shutdown"), err)
	}
	sc := s.CachedInfo().Config
	if sc.Metadata[metaShutdown] != "" {
		return nil
	}
	md := map[string]string{}
	for k, v := range sc.Metadata {
		md[k] = v
	}
	md[metaShutdown] = strconv.FormatInt(time.Now().UnixNano(), 10)
	sc.Metadata = md
	sc.Subjects = []string{q.subject + ".shutdown"}
	if _, err := q.c.js.UpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("%s: %w", q.what("Shutdown"), err)
	}
	return nil
}

// length is the number of values stored that no Get has been handed yet.
func (q *queueCore) length(ctx context.Context) (int, error) {
	if q.closed.Load() {
		return 0, q.closedErr("Len")
	}
	ci, err := q.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", q.what("Len"), err)
	}
	return int(ci.NumPending), nil
}

// close releases the handle: a JoinableQueue's values held and not done go back to the queue
// at once (Nak), for another consumer.
func (q *queueCore) close() {
	q.closeO.Do(func() {
		q.closed.Store(true)
		if q.stop != nil {
			close(q.stop)
			<-q.done
		}
		q.mu.Lock()
		held := q.held
		q.held = nil
		q.mu.Unlock()
		for _, m := range held {
			_ = m.Nak()
		}
	})
}

func (q *queueCore) delete(ctx context.Context) error {
	q.close()
	if err := q.c.js.DeleteStream(ctx, q.stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%s: %w", q.what("Delete"), err)
	}
	return nil
}

// Put puts v on the queue and returns once the server has stored it, waiting while the queue is
// full until there is room or ctx ends. It fails with mp.ErrClosed once the queue is shut down
// (or this handle closed), with an mp.ErrEncode error if v cannot be encoded, and with
// mp.ErrTooLarge if v is over the server's message limit.
func (q *Queue[T]) Put(ctx context.Context, v T) error { return putValue(ctx, q.q, v, false) }

// TryPut puts v if there is room now, and fails with mp.ErrQueueFull otherwise.
func (q *Queue[T]) TryPut(ctx context.Context, v T) error { return putValue(ctx, q.q, v, true) }

// Get takes the oldest value, waiting until there is one or ctx ends, and acknowledges it to the
// server before returning it. Once the queue is shut down it returns the values left and then
// mp.ErrClosed. A value that does not decode into T is taken and reported as an mp.ErrDecode
// error. A value handed to this Get as its ctx ends goes to another Get after the ack wait.
func (q *Queue[T]) Get(ctx context.Context) (T, error) { return q.get(ctx, false) }

// TryGet takes the oldest value if there is one now, and fails with mp.ErrQueueEmpty otherwise
// (mp.ErrClosed when the queue is shut down and empty).
func (q *Queue[T]) TryGet(ctx context.Context) (T, error) { return q.get(ctx, true) }

// putValue encodes v and puts it on q, waiting for room unless try.
func putValue[T any](ctx context.Context, q *queueCore, v T, try bool) error {
	b, err := encode("value put on a queue", v)
	if err != nil {
		return err
	}
	return q.put(ctx, b, try)
}

func (q *Queue[T]) get(ctx context.Context, try bool) (T, error) {
	var v T
	m, err := q.q.get(ctx, try)
	if err != nil {
		return v, err
	}
	if err := m.DoubleAck(ctx); err != nil {
		// Not acknowledged: the server hands the value to another Get after the ack wait.
		return v, fmt.Errorf("%s: acknowledging the value: %w", q.q.what("Get"), err)
	}
	return v, decode("value from a queue", m.Data(), &v)
}

// Len returns the number of values waiting in the queue: stored, and not yet handed to a Get.
// (A value held by a consumer that died counts again once the ack wait gives it back.)
func (q *Queue[T]) Len(ctx context.Context) (int, error) { return q.q.length(ctx) }

// Cap returns the queue's capacity, 0 for no limit.
func (q *Queue[T]) Cap() int { return q.q.capacity }

// Shutdown shuts the queue down for every process on every host: Put fails with mp.ErrClosed
// from then on, and Get returns what is left and then mp.ErrClosed. It is idempotent.
func (q *Queue[T]) Shutdown(ctx context.Context) error { return q.q.shutdown(ctx) }

// IsShutdown reports whether the queue has been shut down (by any process).
func (q *Queue[T]) IsShutdown(ctx context.Context) (bool, error) { return q.q.isShutdown(ctx) }

// Close releases this handle; the queue and its values stay for everybody else. Later calls on
// the handle fail with mp.ErrClosed. It is idempotent.
func (q *Queue[T]) Close() error {
	q.q.close()
	return nil
}

// Delete closes this handle and removes the queue, with its values, from the cluster, for every
// process: their calls fail from then on. Deleting a queue that is gone is not an error.
func (q *Queue[T]) Delete(ctx context.Context) error { return q.q.delete(ctx) }

// String describes the queue: `mpnats.Queue[int]("jobs", cap 10)`.
func (q *Queue[T]) String() string {
	return fmt.Sprintf("mpnats.Queue[%v](%q, cap %d)", reflect.TypeFor[T](), q.q.name, q.q.capacity)
}
