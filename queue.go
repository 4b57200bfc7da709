package mp

import (
	"context"
	"fmt"
	"math/bits"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mp-go/mp/internal/sys"
)

// Queue is a first-in, first-out queue of values of type T shared by processes: Python's
// multiprocessing.Queue. Make it with NewQueue and hand it to children in their task arguments (or
// over a Conn, or to pool workers through WithInitializer); every copy is the same queue. Any
// number of processes and goroutines may put and get at once: a Queue is safe for concurrent use.
//
// Values are encoded by Put, synchronously — an encoding error is Put's error, and nothing is put
// — and live in a shared memory buffer until a Get takes them. When Put returns nil the value is
// in the queue: the producer may exit, or be killed, at once, and the value is still delivered;
// there is no feeder thread, so a process that put values never waits at exit for a reader. FIFO
// order holds per producer (and globally for puts that do not overlap in time).
//
// A consumer killed in the middle of Get does not corrupt the queue or block the others: its lock
// is taken over by the next process that needs it (after up to 100 ms), and at most the one value
// that Get was taking is lost — gone from the queue, never returned. A producer killed in the
// middle of Put loses only the value it was putting (Put had not returned).
//
// The buffer has a fixed size (WithQueueBuffer; 4 MiB by default, and only the pages used take
// memory). Put waits while the buffer is full or the queue holds capacity items; a value larger
// than the whole buffer is an ErrTooLarge error at once.
//
// Close and Shutdown are two things, as in Python 3.13: Close releases this process's handle (its
// mapping and descriptor), and the queue goes on for everybody else; Shutdown ends the queue for
// every process — later Puts fail with ErrClosed, and Gets return what is left, then ErrClosed —
// which is how producers tell consumers "no more". The buffer is freed when the last process
// holding the queue has closed it (or dropped it, to the garbage collector, or exited).
//
// A producer process and a consumer process move about 4 million small values a second through a
// Queue[int] (0.25 µs each), and about 700 MB/s of 1 KiB values, on a 2-core Linux VM
// (queue_throughput and queue_throughput_1k in bench/compare).
//
// Values of plain number types (and arrays of them) are stored as their memory, byte slices and
// strings as their bytes, other types in the package's codec. Handles cannot be put on a queue
// (send them over a Conn).
//
// A Queue[any] delivers values as the codec decodes them into an interface: a struct arrives as
// a map[string]any of its fields, an int as an int64 or uint64, a []T as a []any. Give the queue
// a concrete element type — a struct with the fields, or one struct with a field per kind of
// message — to get the values back as they were put.
type Queue[T any] struct {
	r *ring
}

// QueueOption configures NewQueue.
type QueueOption interface{ applyQueue(*queueConfig) error }

type queueConfig struct{ buffer int }

type queueOptionFunc func(*queueConfig) error

func (f queueOptionFunc) applyQueue(c *queueConfig) error { return f(c) }

// WithQueueBuffer sets the size in bytes of the queue's shared buffer, rounded up to a power of two
// (at least 4 KiB, at most 1 GiB); each value takes its encoded size plus 4 bytes. The default is
// 4 MiB.
func WithQueueBuffer(bytes int) QueueOption {
	return queueOptionFunc(func(c *queueConfig) error {
		if bytes <= 0 || bytes > maxQueueBuffer {
			return fmt.Errorf("%w: WithQueueBuffer(%d): the size must be between 1 and %d bytes", ErrInvalidOption, bytes, maxQueueBuffer)
		}
		c.buffer = bytes
		return nil
	})
}

// NewQueue makes a queue that holds at most capacity values; 0 means no limit but the buffer's
// size (Python's Queue() and Queue(maxsize)). A negative capacity is an ErrInvalidOption. T must
// be a type whose values cross processes intact, as Register's argument types must: a T with a
// struct field the codec would drop (an unexported one) is an ErrEncode error naming the field
// and the fix; a value behind an interface (a Queue[any]) is checked by Put.
func NewQueue[T any](capacity int, opts ...QueueOption) (*Queue[T], error) {
	if err := checkElemType[T]("NewQueue"); err != nil {
		return nil, err
	}
	r, err := makeRing(capacity, false, opts)
	if err != nil {
		return nil, err
	}
	return newQueue[T](r), nil
}

func makeRing(capacity int, joinable bool, opts []QueueOption) (*ring, error) {
	guardChild()
	if capacity < 0 || capacity > 1<<31-1 {
		return nil, fmt.Errorf("%w: queue capacity %d; it must be 0 (no limit) or positive", ErrInvalidOption, capacity)
	}
	cfg := queueConfig{buffer: defaultQueueBuffer}
	for _, o := range opts {
		if o != nil {
			if err := o.applyQueue(&cfg); err != nil {
				return nil, err
			}
		}
	}
	size := max(cfg.buffer, minQueueBuffer)
	size = 1 << bits.Len(uint(size-1))
	r, err := newRing(size, capacity, joinable)
	if err != nil {
		return nil, fmt.Errorf("mp: making a queue: %w", shmError(err))
	}
	return r, nil
}

func newQueue[T any](r *ring) *Queue[T] {
	q := &Queue[T]{r: r}
	runtime.AddCleanup(q, (*ring).drop, r)
	return q
}

// queueHold is the state of this process's handle on a ring: the calls in flight on it, plus
// droppedBit once Close has been called. The ring is unmapped when both are over: by Close if no
// call is in flight, else by the last call to leave. So a goroutine inside Get never touches
// unmapped memory, and a Close does not wait for it. Methods enter and exit; the garbage
// collector's cleanup of the handle drops it as Close does.
type queueHold struct {
	n    atomic.Int64
	once sync.Once // release's
}

const droppedBit = 1 << 40

// enter counts a call in flight; it reports false, counting nothing, once the handle is closed.
func (r *ring) enter() bool {
	if r.hold.n.Add(1) >= droppedBit {
		r.exit()
		return false
	}
	return true
}

// exit ends a call that entered; the last one out after Close unmaps the ring.
func (r *ring) exit() {
	if r.hold.n.Add(-1) == droppedBit {
		r.release()
	}
}

// dropped reports whether this process's handle on the ring is closed.
func (r *ring) dropped() bool { return r.hold.n.Load() >= droppedBit }

func (r *ring) droppedError() error {
	if r.joinable {
		return closedUse("*mp.JoinableQueue")
	}
	return closedUse("*mp.Queue")
}

// drop closes this process's handle on the ring: at once if no call is in flight, else when the
// last one leaves (woken now if it sleeps: the wake-up reaches the other processes' sleepers too,
// which look again and sleep on).
func (r *ring) drop() {
	for {
		n := r.hold.n.Load()
		if n >= droppedBit {
			return
		}
		if r.hold.n.CompareAndSwap(n, n+droppedBit) {
			if n == 0 {
				r.release()
			} else {
				r.wakeAll()
			}
			return
		}
	}
}

// exit ends a call on q that entered r. It is a method of q, deferred, so that q stays reachable
// until the call returns: the garbage collector's cleanup of q would close this handle under it.
func (q *Queue[T]) exit(r *ring) { r.exit() }

// enter starts a call on q: it returns q's ring, to exit when done, or the error of a call on a
// nil, zero or closed queue.
func (q *Queue[T]) enter() (*ring, error) {
	if q == nil || q.r == nil {
		return nil, zeroUse("*mp.Queue", "mp.NewQueue")
	}
	if !q.r.enter() {
		return nil, q.r.droppedError()
	}
	return q.r, nil
}

// Put puts v on the queue, waiting while it is full until there is room or ctx ends (then nothing
// is put, and Put returns ctx's error). It fails with ErrClosed once the queue is shut down (or
// this handle closed), with an ErrEncode error if v cannot be encoded, and with ErrTooLarge if v
// can never fit.
func (q *Queue[T]) Put(ctx context.Context, v T) error { return q.put(ctx, v, false) }

// TryPut puts v on the queue if there is room now, and fails with ErrQueueFull otherwise:
// Python's put_nowait.
func (q *Queue[T]) TryPut(v T) error { return q.put(context.Background(), v, true) }

func (q *Queue[T]) put(ctx context.Context, v T, try bool) error {
	r, err := q.enter()
	if err != nil {
		return err
	}
	defer q.exit(r)
	switch rawKind[T]() {
	case rawMemory:
		return r.put(ctx, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v)), true, try)
	case rawBytes:
		return r.put(ctx, *(*[]byte)(unsafe.Pointer(&v)), true, try)
	case rawString:
		s := *(*string)(unsafe.Pointer(&v))
		return r.put(ctx, unsafe.Slice(unsafe.StringData(s), len(s)), true, try)
	}
	b, err := encodeValue("value put on a queue", v)
	if err != nil {
		return err
	}
	return r.put(ctx, b, false, try)
}

// Get takes the oldest value from the queue, waiting until there is one or ctx ends. Once the
// queue is shut down, Get returns the values left and then ErrClosed. A value that does not decode
// into T is taken from the queue and reported as an ErrDecode error.
func (q *Queue[T]) Get(ctx context.Context) (T, error) { return q.get(ctx, false) }

// TryGet takes the oldest value if there is one now, and fails with ErrQueueEmpty otherwise (or
// ErrClosed when the queue is shut down and empty): Python's get_nowait.
func (q *Queue[T]) TryGet() (T, error) { return q.get(context.Background(), true) }

func (q *Queue[T]) get(ctx context.Context, try bool) (T, error) {
	var v T
	r, err := q.enter()
	if err != nil {
		return v, err
	}
	defer q.exit(r)
	kind := rawKind[T]()
	size := int(unsafe.Sizeof(v))
	b, raw, err := r.get(ctx, try, func(n int, raw bool) []byte {
		if raw && kind == rawMemory && n == size {
			return unsafe.Slice((*byte)(unsafe.Pointer(&v)), size)
		}
		return make([]byte, n)
	})
	if err != nil {
		return v, err
	}
	switch {
	case raw && kind == rawMemory && len(b) == size:
		return v, nil
	case raw && kind == rawBytes:
		*(*[]byte)(unsafe.Pointer(&v)) = b
		return v, nil
	case raw && kind == rawString:
		*(*string)(unsafe.Pointer(&v)) = unsafe.String(unsafe.SliceData(b), len(b)) // b is ours alone
		return v, nil
	case raw:
		return v, fmt.Errorf("%w: a value of %d bytes put by a queue of another element type arrived at a Queue[%v]", ErrDecode, len(b), reflect.TypeFor[T]())
	}
	err = decodeValue("value from a queue", b, &v)
	return v, err
}

// Len returns the number of values in the queue: Python's qsize (which is exact here, but may be
// out of date as soon as it returns).
func (q *Queue[T]) Len() int {
	r, err := q.enter()
	mustOpen(err)
	defer q.exit(r)
	return r.length()
}

// Cap returns the queue's item limit, 0 for none.
func (q *Queue[T]) Cap() int {
	r, err := q.enter()
	mustOpen(err)
	defer q.exit(r)
	return int(r.capacity)
}

// QueueStats is a look at a queue, shared by every process that holds it (Queue.Stats).
type QueueStats struct {
	Len  int    // values in the queue now
	Cap  int    // the item limit, 0 for none
	Puts uint64 // values ever put, by any process
	Gets uint64 // values ever got, by any process
}

// Stats returns the queue's length and capacity, and how many values were ever put on it and got
// from it, by every process that holds it. Puts and Gets only grow: two looks a second apart give
// the queue's rates. They are exact (a Put counts once it has returned nil, a Get once it has taken
// the value), even when processes were killed in the middle of a Put or a Get; the four numbers
// are each exact but not taken at one instant, so Puts-Gets may differ from Len by the calls in
// progress.
func (q *Queue[T]) Stats() QueueStats {
	r, err := q.enter()
	mustOpen(err)
	defer q.exit(r)
	puts, gets := r.counts()
	return QueueStats{Len: r.length(), Cap: int(r.capacity), Puts: puts, Gets: gets}
}

// Shutdown shuts the queue down for every process that holds it, as closing a channel does, and
// as Python 3.13's Queue.shutdown does: Put fails with ErrClosed from then on, Get returns what is
// left and then ErrClosed, and every Put or Get waiting, in any process, is woken. A
// JoinableQueue's Join goes on waiting for the values still unfinished, to be got and marked
// done, but looks at once whether they are lost with dead consumers (see Join). Shutdown is
// idempotent; it does not close this handle (Close does that). On a nil, zero or closed handle it
// returns an error wrapping ErrClosed.
func (q *Queue[T]) Shutdown() error {
	r, err := q.enter()
	if err != nil {
		return err
	}
	defer q.exit(r)
	r.shutdown()
	return nil
}

// IsShutdown reports whether the queue has been shut down (by any process): Python's
// is_shutdown.
func (q *Queue[T]) IsShutdown() bool {
	r, err := q.enter()
	mustOpen(err)
	defer q.exit(r)
	return r.isClosed()
}

// Close releases this process's handle on the queue — its mapping of the buffer and its
// descriptor — now, or, if a call of this process is in the middle of Put, Get or Join, as soon as
// it returns (a waiting one is woken and returns an error wrapping ErrClosed). The queue goes on
// for every other process and for every other handle of this process to it; its values stay. From
// then on q's methods fail as the package doc says (an error wrapping ErrClosed, or a panic with
// one). To tell the consumers that no more values will come, call Shutdown, before Close. Close is
// idempotent, and does nothing on a nil Queue. (Python's close is per process too, and stops that
// process's feeder thread; there is no feeder here.)
func (q *Queue[T]) Close() error {
	if q == nil || q.r == nil {
		return nil
	}
	q.r.drop()
	return nil
}

// String describes the queue: "mp.Queue[int](len 3, cap 10)", with ", shut down" once it is, or
// "mp.Queue[int](closed)" after Close.
func (q *Queue[T]) String() string {
	name := fmt.Sprintf("mp.Queue[%v]", reflect.TypeFor[T]())
	if q == nil || q.r == nil {
		return name + "(nil)"
	}
	r, err := q.enter()
	if err != nil {
		return name + "(closed)"
	}
	defer q.exit(r)
	s := fmt.Sprintf("%s(len %d, cap %d", name, r.length(), r.capacity)
	if r.isClosed() {
		s += ", shut down"
	}
	return s + ")"
}

// How a queue stores values of a type without the codec.
const (
	rawNone   = iota
	rawMemory // plain numbers and arrays of them: their memory
	rawBytes  // byte slices: their contents
	rawString // strings: their bytes
)

// rawBytesOf returns the bytes that stand for *v when T is stored without the codec (they alias
// *v), or nil. A nil or empty slice or string gives an empty, non-nil slice.
func rawBytesOf[T any](v *T) []byte {
	switch rawKind[T]() {
	case rawMemory:
		return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
	case rawBytes:
		if b := *(*[]byte)(unsafe.Pointer(v)); len(b) > 0 {
			return b
		}
		return []byte{}
	case rawString:
		if s := *(*string)(unsafe.Pointer(v)); len(s) > 0 {
			return unsafe.Slice(unsafe.StringData(s), len(s))
		}
		return []byte{}
	}
	return nil
}

// setRaw sets *v from b, bytes of a raw record; b becomes *v's when T is a byte slice or string.
func setRaw[T any](v *T, b []byte) error {
	switch rawKind[T]() {
	case rawMemory:
		if len(b) == int(unsafe.Sizeof(*v)) {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), len(b)), b)
			return nil
		}
	case rawBytes:
		*(*[]byte)(unsafe.Pointer(v)) = b
		return nil
	case rawString:
		*(*string)(unsafe.Pointer(v)) = unsafe.String(unsafe.SliceData(b), len(b))
		return nil
	}
	return fmt.Errorf("%w: a value of %d bytes sent by a sender of another element type arrived for a %v", ErrDecode, len(b), reflect.TypeFor[T]())
}

// rawKind says how values of T are stored.
func rawKind[T any]() int {
	t := reflect.TypeFor[T]()
	switch {
	case plainType(t):
		return rawMemory
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return rawBytes
	case t.Kind() == reflect.String:
		return rawString
	}
	return rawNone
}

const (
	queueMeta    = "*mp.Queue"
	joinableMeta = "*mp.JoinableQueue"
)

// handleDup implements handle: one descriptor, the buffer's.
func (q *Queue[T]) handleDup() ([]int, string, error) { return dupRing(q.enter, queueMeta) }

func (*Queue[T]) handleAdopt(fds []int, meta string) (any, error) {
	r, err := adoptRing(firstFD(fds), meta)
	if err != nil {
		return nil, err
	}
	return newQueue[T](r), nil
}

// handleRelease lets go of a queue just received that will not be delivered (the message
// holding it failed to decode): it closes this handle, and does not shut the queue down.
func (q *Queue[T]) handleRelease() { q.Close() }

// dupRing duplicates the descriptor of the ring that enter returns.
func dupRing(enter func() (*ring, error), meta string) ([]int, string, error) {
	r, err := enter()
	if err != nil {
		return nil, "", err
	}
	defer r.exit()
	fd, err := r.seg.Dup()
	if err != nil {
		return nil, "", err
	}
	return []int{fd}, meta, nil
}

// adoptRing maps a received queue; a JoinableQueue may arrive where a Queue is expected. It owns
// fd, and checks the segment before it reads anything in it (attachRing).
func adoptRing(fd int, meta string) (*ring, error) {
	if meta != queueMeta && meta != joinableMeta {
		sys.CloseFD(fd)
		return nil, fmt.Errorf("a %q arrived where the receiver has a queue", meta)
	}
	seg, err := mapSegment(fd)
	if err != nil {
		return nil, shmError(err)
	}
	return attachRing(seg)
}

// MarshalCBOR refuses to encode a Queue with the cbor package: it is a handle, and handles travel
// only as descriptors, in a task argument, a Process argument or a Conn's Send.
func (q *Queue[T]) MarshalCBOR() ([]byte, error) { return nil, refuseCBOR("*mp.Queue") }
