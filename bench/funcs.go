//go:build unix

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp"
)

// The functions the workloads run in mp children. They are registered at package level, so that
// every binary importing this package (the compare command, the test binaries) knows them in its
// children too.
var (
	// Empty does nothing: the body of spawn_join.
	Empty = mp.Register("bench.empty", func(ctx context.Context, _ struct{}) (struct{}, error) {
		return struct{}{}, nil
	})

	// Square returns x*x: the body of run_roundtrip.
	Square = mp.Register("bench.square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})

	// Idle blocks until its context is cancelled or d has passed: the body of idle_rss.
	Idle = mp.Register("bench.idle", func(ctx context.Context, d time.Duration) (struct{}, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return struct{}{}, nil
	})

	// QueueProduceInts puts the ints 0..N-1 on its queue once the parent says go: the producer
	// of queue_throughput.
	QueueProduceInts = mp.Register("bench.queue_produce_ints", func(ctx context.Context, j QueueJob[int]) (struct{}, error) {
		return struct{}{}, produce(ctx, j, func(i int) int { return i })
	})

	// QueueConsumeInts gets N ints from its queue and checks that they are 0..N-1 in order: the
	// consumer of queue_throughput.
	QueueConsumeInts = mp.Register("bench.queue_consume_ints", func(ctx context.Context, j QueueJob[int]) (struct{}, error) {
		return struct{}{}, consume(ctx, j, func(i, v int) bool { return v == i })
	})

	// QueueProduceBytes puts the same Size-byte slice N times on its queue once the parent says
	// go: the producer of queue_throughput_1k.
	QueueProduceBytes = mp.Register("bench.queue_produce_bytes", func(ctx context.Context, j QueueJob[[]byte]) (struct{}, error) {
		payload := bytes.Repeat([]byte{'x'}, j.Size)
		return struct{}{}, produce(ctx, j, func(int) []byte { return payload })
	})

	// QueueConsumeBytes gets N slices from its queue and checks their length: the consumer of
	// queue_throughput_1k.
	QueueConsumeBytes = mp.Register("bench.queue_consume_bytes", func(ctx context.Context, j QueueJob[[]byte]) (struct{}, error) {
		return struct{}{}, consume(ctx, j, func(_ int, v []byte) bool { return len(v) == j.Size })
	})

	// Echo receives N values on its end of a pipe and sends each one back: the child of
	// pipe_pingpong.
	Echo = mp.Register("bench.echo", func(ctx context.Context, j ConnJob) (struct{}, error) {
		defer j.C.Close()
		for range j.N {
			v, err := j.C.Recv(ctx)
			if err != nil {
				return struct{}{}, err
			}
			if err := j.C.Send(ctx, v); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})

	// BytesSink receives N byte messages on its end of a pipe with RecvBytes and answers each
	// with its length: the child of pipe_bandwidth.
	BytesSink = mp.Register("bench.bytes_sink", func(ctx context.Context, j ConnJob) (struct{}, error) {
		defer j.C.Close()
		for range j.N {
			b, err := j.C.RecvBytes(ctx)
			if err != nil {
				return struct{}{}, err
			}
			if err := j.C.Send(ctx, len(b)); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})

	// LockIncrement says ready, waits for the go event, then adds 1 to the counter N times under
	// the mutex, by a plain read-modify-write of the shared slot, and says how many it made: a
	// child of lock_contention.
	LockIncrement = mp.Register("bench.lock_increment", func(ctx context.Context, j LockJob) (struct{}, error) {
		defer j.Ctl.Close()
		if err := j.Ctl.Send(ctx, 0); err != nil {
			return struct{}{}, fmt.Errorf("ready: %w", err)
		}
		if err := j.Go.Wait(ctx); err != nil {
			return struct{}{}, fmt.Errorf("waiting for go: %w", err)
		}
		c := j.Counter.Slice()
		for range j.N {
			if err := j.Mu.Lock(ctx); err != nil {
				return struct{}{}, err
			}
			c[0]++
			j.Mu.Unlock()
		}
		return struct{}{}, j.Ctl.Send(ctx, j.N)
	})

	// EventEcho waits for Go, clears it and sets Back, N times: the child of event_latency.
	EventEcho = mp.Register("bench.event_echo", func(ctx context.Context, j EventJob) (struct{}, error) {
		for i := range j.N {
			if err := j.Go.Wait(ctx); err != nil {
				return struct{}{}, fmt.Errorf("wait %d: %w", i, err)
			}
			if err := j.Go.Clear(); err != nil {
				return struct{}{}, err
			}
			if err := j.Back.Set(); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})

	// ShmSumNamed opens the named shared memory segment of its argument, sums it as uint64s,
	// then sums it again: the child of shm_read. It times the opening and the first sum
	// together, and the second sum alone.
	ShmSumNamed = mp.Register("bench.shm_sum_named", func(ctx context.Context, j ShmJob) (ShmSums, error) {
		t0 := time.Now()
		shm, err := mp.OpenSharedMemory(j.Name, j.Size)
		if err != nil {
			return ShmSums{}, err
		}
		defer shm.Close()
		return sumTwice(t0, shm.Bytes()), nil
	})

	// ShmSumHandle sums the shared memory segment it was handed as a task argument (mapped
	// before the function runs), then sums it again: shm_read's handle figure.
	ShmSumHandle = mp.Register("bench.shm_sum_handle", func(ctx context.Context, shm *mp.SharedMemory) (ShmSums, error) {
		defer shm.Close()
		return sumTwice(time.Now(), shm.Bytes()), nil
	})
)

// LockJob is the argument of a lock_contention child: the mutex and the one-slot counter it
// guards, the event to start on, the child's end of a pipe to the parent, and how many
// increments to make.
type LockJob struct {
	Mu      *mp.Mutex
	Counter *mp.Array[int64]
	Go      *mp.Event
	Ctl     *mp.Conn[int]
	N       int
}

// EventJob is the argument of an event_latency child: the event it waits for, the one it sets,
// and how many round trips to serve.
type EventJob struct {
	Go, Back *mp.Event
	N        int
}

// ShmJob is the argument of ShmSumNamed: the name and size of the segment.
type ShmJob struct {
	Name string
	Size int
}

// ShmSums is what a shm_read child found: the sums of its two passes and their times in
// nanoseconds, the first from t0 (before the segment was opened, or the function's start).
type ShmSums struct {
	Sum, HotSum    uint64
	FirstNs, HotNs int64
}

// sumTwice sums b twice, timing the first pass from t0 and the second on its own.
func sumTwice(t0 time.Time, b []byte) ShmSums {
	var r ShmSums
	r.Sum = Sum64(b)
	t1 := time.Now()
	r.HotSum = Sum64(b)
	r.FirstNs, r.HotNs = t1.Sub(t0).Nanoseconds(), time.Since(t1).Nanoseconds()
	return r
}

// QueueJob is the argument of a queue_throughput child: the queue, the child's end of a pipe to
// the parent, how many items to put or get, and for []byte items their length.
type QueueJob[T any] struct {
	Q    *mp.Queue[T]
	Ctl  *mp.Conn[int]
	N    int
	Size int
}

// ConnJob is the argument of a pipe child: its end of the pipe and how many messages to serve.
type ConnJob struct {
	C *mp.Conn[int]
	N int
}

// produce says ready on j.Ctl, waits for go, puts item(0), …, item(j.N-1) on j.Q, then waits
// for the parent's word (or the end of j.Ctl) before it returns, so that it is still alive while
// the consumer gets the last items.
func produce[T any](ctx context.Context, j QueueJob[T], item func(int) T) error {
	defer j.Ctl.Close()
	if err := j.Ctl.Send(ctx, 0); err != nil {
		return fmt.Errorf("producer: ready: %w", err)
	}
	if _, err := j.Ctl.Recv(ctx); err != nil {
		return fmt.Errorf("producer: waiting for go: %w", err)
	}
	for i := range j.N {
		if err := j.Q.Put(ctx, item(i)); err != nil {
			return fmt.Errorf("producer: Put of item %d: %w", i, err)
		}
	}
	j.Ctl.Recv(ctx) // the parent's word that the consumer is done, or the end of the pipe
	return nil
}

// consume says ready on j.Ctl, gets j.N items from j.Q, checking each with ok, then sends j.N
// on j.Ctl.
func consume[T any](ctx context.Context, j QueueJob[T], ok func(int, T) bool) error {
	defer j.Ctl.Close()
	if err := j.Ctl.Send(ctx, 0); err != nil {
		return fmt.Errorf("consumer: ready: %w", err)
	}
	for i := range j.N {
		v, err := j.Q.Get(ctx)
		if err != nil {
			return fmt.Errorf("consumer: Get of item %d: %w", i, err)
		}
		if !ok(i, v) {
			return fmt.Errorf("consumer: item %d is wrong", i)
		}
	}
	return j.Ctl.Send(ctx, j.N)
}

// runTimeout bounds one run of a queue workload, so that an item lost fails the run instead of
// hanging the command. The pipe workloads' Send and Recv use the caller's ctx as it is: a ctx
// that can end costs each call a deadline set and reset.
const runTimeout = 2 * time.Minute

// QueueInts passes the ints 0..n-1 from a producer process to a consumer process through a new
// mp.Queue[int]: the operation of queue_throughput. See queueRun.
func QueueInts(ctx context.Context, n int) (time.Duration, error) {
	return queueRun(ctx, QueueProduceInts, QueueConsumeInts, n, 0)
}

// QueueBytes passes n slices of size bytes from a producer process to a consumer process through
// a new mp.Queue[[]byte]: the operation of queue_throughput_1k. See queueRun.
func QueueBytes(ctx context.Context, n, size int) (time.Duration, error) {
	return queueRun(ctx, QueueProduceBytes, QueueConsumeBytes, n, size)
}

// queueRun makes a queue (no item limit, like Python's Queue()) and starts a consumer and a
// producer on it, each with a pipe to this process. Once both have said they are ready, it tells
// the producer to go and returns how long it took until the consumer said it had got the n items.
// The starts are not timed.
func queueRun[T any](ctx context.Context, produce, consume *mp.Func[QueueJob[T], struct{}], n, size int) (took time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	q, err := mp.NewQueue[T](0)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	var procs []*mp.Process
	defer func() {
		if err != nil {
			err = failRun(err, procs...)
		}
	}()
	ctl := func(f *mp.Func[QueueJob[T], struct{}]) (*mp.Conn[int], error) {
		mine, theirs, err := mp.Pipe[int]()
		if err != nil {
			return nil, err
		}
		defer theirs.Close() // the child has its own
		p := mp.NewProcess(f, QueueJob[T]{Q: q, Ctl: theirs, N: n, Size: size})
		if err := p.Start(ctx); err != nil {
			mine.Close()
			return nil, err
		}
		procs = append(procs, p)
		return mine, nil
	}
	cons, err := ctl(consume)
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	prod, err := ctl(produce)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	for _, c := range []*mp.Conn[int]{cons, prod} {
		if _, err := c.Recv(ctx); err != nil {
			return 0, fmt.Errorf("waiting for a queue child to be ready: %w", err)
		}
	}
	t0 := time.Now()
	if err := prod.Send(ctx, 1); err != nil {
		return 0, err
	}
	got, err := cons.Recv(ctx)
	took = time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("waiting for the consumer: %w", err)
	}
	if got != n {
		return 0, fmt.Errorf("bench: the consumer got %d items of %d", got, n)
	}
	if err := prod.Send(ctx, 2); err != nil {
		return 0, err
	}
	for _, p := range procs {
		if err := p.Wait(ctx); err != nil {
			return 0, err
		}
	}
	return took, nil
}

// failRun ends the children of a failed run and returns err joined with the error of each child
// that ended with one on its own within a second (often the cause of err); the others are killed.
func failRun(err error, procs ...*mp.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	errs := []error{err}
	for _, p := range procs {
		werr := p.Wait(ctx)
		if p.Alive() {
			p.Kill()
			p.Wait(context.Background())
			continue
		}
		if werr != nil {
			errs = append(errs, fmt.Errorf("child %s: %w", p.Name(), werr))
		}
	}
	return errors.Join(errs...)
}

// PipeChild makes a duplex mp.Pipe[int], starts f in a child with one end and count, and returns
// the other end and the child. The caller must close the end and wait for the child.
func PipeChild(ctx context.Context, f *mp.Func[ConnJob, struct{}], count int) (*mp.Conn[int], *mp.Process, error) {
	mine, theirs, err := mp.Pipe[int]()
	if err != nil {
		return nil, nil, err
	}
	defer theirs.Close() // the child has its own
	p := mp.NewProcess(f, ConnJob{C: theirs, N: count})
	if err := p.Start(ctx); err != nil {
		mine.Close()
		return nil, nil, err
	}
	return mine, p, nil
}

// PingPong sends 1 through a Pipe to a child running Echo and receives it back, warm times
// unmeasured, then n times timed: the operation of pipe_pingpong. It returns each timed round
// trip.
func PingPong(ctx context.Context, n, warm int) (rts []time.Duration, err error) {
	c, p, err := PipeChild(ctx, Echo, warm+n)
	if err != nil {
		return nil, err
	}
	defer func() {
		c.Close()
		if err != nil {
			err = failRun(err, p)
		} else {
			err = p.Wait(ctx)
		}
	}()
	rts = make([]time.Duration, 0, n)
	for i := -warm; i < n; i++ {
		t0 := time.Now()
		if err := c.Send(ctx, 1); err != nil {
			return nil, err
		}
		v, err := c.Recv(ctx)
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if v != 1 {
			return nil, fmt.Errorf("bench: Echo sent back %d, want 1", v)
		}
		if i >= 0 {
			rts = append(rts, d)
		}
	}
	return rts, nil
}

// Bandwidth sends messages of size bytes with SendBytes through a Pipe to a child running
// BytesSink, and receives each one's length back: warm messages unmeasured, then n timed, from
// SendBytes to the answer; the operation of pipe_bandwidth. It returns each timed message's
// duration.
func Bandwidth(ctx context.Context, n, warm, size int) (ds []time.Duration, err error) {
	c, p, err := PipeChild(ctx, BytesSink, warm+n)
	if err != nil {
		return nil, err
	}
	defer func() {
		c.Close()
		if err != nil {
			err = failRun(err, p)
		} else {
			err = p.Wait(ctx)
		}
	}()
	data := bytes.Repeat([]byte{0xab}, size)
	for i := -warm; i < n; i++ {
		t0 := time.Now()
		if err := c.SendBytes(ctx, data); err != nil {
			return nil, err
		}
		got, err := c.Recv(ctx)
		if err != nil {
			return nil, err
		}
		d := time.Since(t0)
		if got != size {
			return nil, fmt.Errorf("bench: BytesSink received %d bytes, want %d", got, size)
		}
		if i >= 0 {
			ds = append(ds, d)
		}
	}
	return ds, nil
}

// StartWait starts a process running Empty and waits for it to end: the operation of
// spawn_join. It returns how long Start took and how long Start and Wait took together.
func StartWait(ctx context.Context) (start, total time.Duration, err error) {
	t0 := time.Now()
	p := mp.NewProcess(Empty, struct{}{})
	if err := p.Start(ctx); err != nil {
		return 0, 0, err
	}
	t1 := time.Now()
	if err := p.Wait(ctx); err != nil {
		return 0, 0, err
	}
	return t1.Sub(t0), time.Since(t0), nil
}

// RunSquare runs Square(7) in a fresh process with mp.Run and checks that 49 came back: the
// operation of run_roundtrip.
func RunSquare(ctx context.Context) error {
	v, err := mp.Run(ctx, Square, 7)
	if err != nil {
		return err
	}
	if v != 49 {
		return fmt.Errorf("bench: Run(Square, 7) = %d, want 49", v)
	}
	return nil
}

// StartPool starts a pool of n workers and runs one call on each, so that every worker has
// answered its handshake and served a call before anything is timed.
func StartPool(ctx context.Context, n int) (*mp.Pool, error) {
	p, err := mp.NewPool(ctx, mp.WithWorkers(n))
	if err != nil {
		return nil, err
	}
	futs := make([]*mp.Future[struct{}], 0, 4*n)
	for range 4 * n {
		futs = append(futs, mp.Submit(ctx, p, Empty, struct{}{}))
	}
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Ints returns 0, 1, …, n-1.
func Ints(n int) []int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	return xs
}

// MapSquares squares every item of xs on the pool with mp.Map and checks the results: the
// operation of pool_map_tiny and pool_map_chunk1. It returns how long the Map alone took.
func MapSquares(ctx context.Context, p mp.Executor, xs []int, opts ...mp.CallOption) (time.Duration, error) {
	t0 := time.Now()
	out, err := mp.Map(ctx, p, Square, xs, opts...)
	took := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if len(out) != len(xs) {
		return 0, fmt.Errorf("bench: Map(Square) of %d items returned %d results", len(xs), len(out))
	}
	for i, x := range xs {
		if out[i] != x*x {
			return 0, fmt.Errorf("bench: Map(Square)[%d] = %d, want %d", i, out[i], x*x)
		}
	}
	return took, nil
}

// SubmitEmpties submits n calls of Empty to the pool with mp.Submit, then waits for every
// future: the operation of executor_submit. It returns how long the submissions took and how
// long the whole took.
func SubmitEmpties(ctx context.Context, p *mp.Pool, n int) (submit, total time.Duration, err error) {
	futs := make([]*mp.Future[struct{}], n)
	t0 := time.Now()
	for i := range futs {
		futs[i] = mp.Submit(ctx, p, Empty, struct{}{})
	}
	submit = time.Since(t0)
	for _, f := range futs {
		if _, err := f.Wait(ctx); err != nil {
			return 0, 0, err
		}
	}
	return submit, time.Since(t0), nil
}

// LockPairs locks and unlocks m n times: the operation of lock_uncontended. It returns how long
// the n pairs took.
func LockPairs(ctx context.Context, m *mp.Mutex, n int) (time.Duration, error) {
	t0 := time.Now()
	for range n {
		if err := m.Lock(ctx); err != nil {
			return 0, err
		}
		m.Unlock()
	}
	return time.Since(t0), nil
}

// contentionSettle is how long lock_contention's ready children get to start waiting for go, on
// every side.
const contentionSettle = 10 * time.Millisecond

// LockContention starts two children running LockIncrement on one mp.Mutex and one-slot
// mp.Array[int64] counter, each with a pipe to this process. Once both have said they are ready
// (and had contentionSettle to start waiting), it sets their go event and returns how long it
// took until both said they had made their n increments: the operation of lock_contention. It
// checks that the counter is 2n. The starts are not timed.
func LockContention(ctx context.Context, n int) (took time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	mu, err := mp.NewMutex()
	if err != nil {
		return 0, err
	}
	defer mu.Close()
	counter, err := mp.NewArray[int64](1)
	if err != nil {
		return 0, err
	}
	defer counter.Close()
	goEv, err := mp.NewEvent()
	if err != nil {
		return 0, err
	}
	defer goEv.Close()
	var procs []*mp.Process
	defer func() {
		if err != nil {
			err = failRun(err, procs...)
		}
	}()
	var ctls []*mp.Conn[int]
	defer func() {
		for _, c := range ctls {
			c.Close()
		}
	}()
	for range 2 {
		mine, theirs, err := mp.Pipe[int]()
		if err != nil {
			return 0, err
		}
		p := mp.NewProcess(LockIncrement, LockJob{Mu: mu, Counter: counter, Go: goEv, Ctl: theirs, N: n})
		err = p.Start(ctx)
		theirs.Close() // the child has its own
		if err != nil {
			mine.Close()
			return 0, err
		}
		procs = append(procs, p)
		ctls = append(ctls, mine)
	}
	for _, c := range ctls {
		if _, err := c.Recv(ctx); err != nil {
			return 0, fmt.Errorf("waiting for a lock child to be ready: %w", err)
		}
	}
	time.Sleep(contentionSettle)
	t0 := time.Now()
	if err := goEv.Set(); err != nil {
		return 0, err
	}
	for _, c := range ctls {
		got, err := c.Recv(ctx)
		if err != nil {
			return 0, fmt.Errorf("waiting for a lock child: %w", err)
		}
		if got != n {
			return 0, fmt.Errorf("bench: a lock child made %d increments of %d", got, n)
		}
	}
	took = time.Since(t0)
	for _, p := range procs {
		if err := p.Wait(ctx); err != nil {
			return 0, err
		}
	}
	if got := counter.Slice()[0]; got != 2*int64(n) {
		return 0, fmt.Errorf("bench: the counter is %d after 2×%d increments under the mutex", got, n)
	}
	return took, nil
}

// EventPingPong starts a child running EventEcho on two new mp.Events and ping-pongs with it:
// Set go, Wait for back, then Clear back (untimed), warm times unmeasured, then n times timed:
// the operation of event_latency. It returns each timed round trip, Set to Wait's return.
func EventPingPong(ctx context.Context, n, warm int) (rts []time.Duration, err error) {
	goEv, err := mp.NewEvent()
	if err != nil {
		return nil, err
	}
	defer goEv.Close()
	back, err := mp.NewEvent()
	if err != nil {
		return nil, err
	}
	defer back.Close()
	p := mp.NewProcess(EventEcho, EventJob{Go: goEv, Back: back, N: warm + n})
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = failRun(err, p)
		} else {
			err = p.Wait(ctx)
		}
	}()
	rts = make([]time.Duration, 0, n)
	for i := -warm; i < n; i++ {
		t0 := time.Now()
		if err := goEv.Set(); err != nil {
			return nil, err
		}
		if err := back.Wait(ctx); err != nil {
			return nil, err
		}
		d := time.Since(t0)
		if err := back.Clear(); err != nil {
			return nil, err
		}
		if i >= 0 {
			rts = append(rts, d)
		}
	}
	return rts, nil
}

// shmSeq numbers the named segments of shm_read within this process.
var shmSeq atomic.Int64

// ShmRead makes a named and an anonymous shared memory segment of size bytes, fills both with
// 0x01 bytes, and runs n children on them, one after the other: each one (ShmSumNamed) opens
// the named segment by name and sums it twice, and another (ShmSumHandle) gets the anonymous
// one as a task argument and sums it twice: the operation of shm_read. It checks the sums and
// returns what the children found, named and handle alike. The children's starts are not
// timed; they time themselves.
func ShmRead(ctx context.Context, n, size int) (named, handle []ShmSums, err error) {
	name := fmt.Sprintf("mp-bench-%d-%d", os.Getpid(), shmSeq.Add(1))
	seg, err := mp.CreateSharedMemory(name, size)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		seg.Close()
		seg.Unlink()
	}()
	anon, err := mp.CreateSharedMemory("", size)
	if err != nil {
		return nil, nil, err
	}
	defer anon.Close()
	fillOnes(seg.Bytes())
	fillOnes(anon.Bytes())
	want := uint64(size/8) * 0x0101010101010101
	check := func(r ShmSums, err error) (ShmSums, error) {
		if err == nil && (r.Sum != want || r.HotSum != want) {
			err = fmt.Errorf("bench: a shm_read child summed %#x and %#x, want %#x", r.Sum, r.HotSum, want)
		}
		return r, err
	}
	for range n {
		r, err := check(mp.Run(ctx, ShmSumNamed, ShmJob{Name: name, Size: size}))
		if err != nil {
			return nil, nil, err
		}
		named = append(named, r)
		if r, err = check(mp.Run(ctx, ShmSumHandle, anon)); err != nil {
			return nil, nil, err
		}
		handle = append(handle, r)
	}
	return named, handle, nil
}
