package mpnats

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// heartbeatEvery is how often an agent publishes its heartbeat; a pool counts an agent lost after
// three missed ones.
const heartbeatEvery = 500 * time.Millisecond

// ErrBinaryMismatch is matched by the error of a task sent by a program whose registered
// functions differ from the agent's (mp.RegistryHash): the agent refuses to run it, rather than
// run other code under the same name. Run the same binary on every host.
var ErrBinaryMismatch = mp.RegisterError("mpnats.binary_mismatch", errors.New("mpnats: the agent runs another binary"))

// AgentOption configures Serve.
type AgentOption interface{ applyAgent(*agentConfig) error }

type agentConfig struct {
	slots    int
	grace    time.Duration
	poolOpts []mp.PoolOption
}

type agentOptionFunc func(*agentConfig) error

func (f agentOptionFunc) applyAgent(c *agentConfig) error { return f(c) }

// WithSlots sets how many tasks the agent runs at once, each in a worker process of its own
// (default: mp.NumCPU()).
func WithSlots(n int) AgentOption {
	return agentOptionFunc(func(c *agentConfig) error {
		if n < 1 {
			return fmt.Errorf("mpnats: WithSlots(%d): an agent needs at least one slot", n)
		}
		c.slots = n
		return nil
	})
}

// WithCancelGrace sets how long a cancelled or timed-out task's function has to return before the
// agent kills its worker process (default 250 ms).
func WithCancelGrace(d time.Duration) AgentOption {
	return agentOptionFunc(func(c *agentConfig) error {
		if d <= 0 {
			return fmt.Errorf("mpnats: WithCancelGrace(%v): must be positive", d)
		}
		c.grace = d
		return nil
	})
}

// WithAgentPoolOptions passes options to the agent's local mp.Pool (mp.WithWorkerMemoryLimit,
// mp.WithInitializer, …).
func WithAgentPoolOptions(opts ...mp.PoolOption) AgentOption {
	return agentOptionFunc(func(c *agentConfig) error { c.poolOpts = append(c.poolOpts, opts...); return nil })
}

// agent is a running Serve.
type agent struct {
	c     *Cluster
	id    string
	host  string
	cfg   agentConfig
	pool  *mp.Pool
	cons  jetstream.Consumer
	hash  string
	busy  atomic.Int64
	tasks atomic.Int64
	// ackWait is the task consumer's ack wait, read from the server (pools set it), in ns.
	ackWait atomic.Int64

	mu        sync.Mutex
	running   map[string]func(error)
	inbox     string               // where pools answer results
	replySeq  uint64               // numbers the results sent
	awaiting  map[uint64]awaited   // tasks whose results await the pool's answer
	cancelled map[string]time.Time // IDs cancelled before they arrived, for a minute

	// stop ends Serve with its cause: the local pool broke (it could not keep workers alive).
	stop context.CancelCauseFunc
}

// errCancelled is the cause a cancelled task's local call ends with.
var errCancelled = errors.New("mpnats: task cancelled by its pool")

// Serve makes this process a worker agent of c until ctx ends: it runs the tasks of every pool
// of the cluster in a local mp.Pool of worker processes, one task per slot (WithSlots), taking a
// task only when a slot is free. While a task runs, the agent tells the server so (in-progress
// acks), so a long task is never handed to another agent; it heartbeats (host, pid, binary
// version, slots, busy, RSS) every half second, which the pools read. A task whose worker process
// dies goes back at once to be run again (up to its attempts); when ctx ends, the tasks running
// are stopped and go back too. Serve returns nil when ctx ends, or the error that stopped it:
// one matching mp.ErrBrokenPool when its local pool can no longer start workers, the tasks it
// held handed back to other agents.
//
// The agent and the head may share a process and a Cluster (the tasks still run in worker
// processes); on other hosts, the same binary calls Serve on a Cluster made by Connect (see
// ServeFromEnv).
func Serve(ctx context.Context, c *Cluster, opts ...AgentOption) error {
	if c == nil {
		return errors.New("mpnats: Serve with a nil *Cluster")
	}
	cfg := agentConfig{slots: mp.NumCPU(), grace: 250 * time.Millisecond}
	for _, o := range opts {
		if o == nil {
			return errors.New("mpnats: a nil AgentOption")
		}
		if err := o.applyAgent(&cfg); err != nil {
			return err
		}
	}
	if err := c.setup(ctx); err != nil {
		return err
	}
	parent := ctx
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	pool, err := mp.NewPool(ctx, append([]mp.PoolOption{mp.WithWorkers(cfg.slots), mp.WithCancelGrace(cfg.grace)}, cfg.poolOpts...)...)
	if err != nil {
		return fmt.Errorf("mpnats: the agent's worker processes: %w", err)
	}
	host, _ := os.Hostname()
	a := &agent{c: c, id: nuid.Next(), host: host, cfg: cfg, pool: pool, cons: c.tasks, hash: mp.RegistryHash(),
		running: make(map[string]func(error)), cancelled: make(map[string]time.Time),
		inbox: c.nc.NewRespInbox(), awaiting: make(map[uint64]awaited), stop: stop}
	a.ackWait.Store(int64(c.ackWait))
	a.readAckWait(ctx)
	rsub, err := c.nc.Subscribe(a.inbox+".*", a.onReply)
	if err != nil {
		pool.Close()
		return fmt.Errorf("mpnats: subscribe to the pools' answers: %w", err)
	}
	defer rsub.Unsubscribe()
	rsub.SetPendingLimits(-1, -1)
	sub, err := c.nc.Subscribe(cancelSubject, a.onCancel)
	if err != nil {
		pool.Close()
		return fmt.Errorf("mpnats: subscribe to cancels: %w", err)
	}
	sub.SetPendingLimits(-1, -1)
	a.heartbeat(false)

	var wg sync.WaitGroup
	hbDone := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for beat := 1; ; beat++ {
			select {
			case <-ctx.Done():
				return
			case <-hbDone:
				return
			case <-t.C:
				a.heartbeat(false)
				if beat%4 == 0 { // a pool made since may have changed it
					a.readAckWait(ctx)
				}
			}
		}
	})
	wg.Go(func() { a.pull(ctx, &wg) })
	<-ctx.Done()
	close(hbDone)
	wg.Wait()
	a.settleAll(2 * time.Second)
	sub.Unsubscribe()
	a.heartbeat(true)
	c.nc.Flush()
	pool.Close()
	if parent.Err() == nil {
		if err := context.Cause(ctx); errors.Is(err, mp.ErrBrokenPool) {
			return fmt.Errorf("mpnats: the agent stopped, its tasks handed back: %w", err)
		}
	}
	return nil
}

// readAckWait reads the task consumer's ack wait from the server: the agent tells the server that
// a task still runs every third of it. Only pools write it, so an agent with another WithAckWait
// does not change it for the cluster.
func (a *agent) readAckWait(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if info, err := a.cons.Info(ictx); err == nil && info.Config.AckWait > 0 {
		a.ackWait.Store(int64(info.Config.AckWait))
	}
}

// progressEvery is how often a running task's in-progress ack goes to the server.
func (a *agent) progressEvery() time.Duration {
	return max(time.Duration(a.ackWait.Load())/3, 50*time.Millisecond)
}

func (a *agent) heartbeat(stopped bool) {
	hb := heartbeat{ID: a.id, Host: a.host, Pid: os.Getpid(), Version: a.hash, Slots: a.cfg.slots,
		Busy: int(a.busy.Load()), RSS: rssOf(os.Getpid()), Tasks: a.tasks.Load(), Stopped: stopped}
	a.c.nc.Publish(hbPrefix+a.id, marshal(hb))
}

// rssOf returns the resident set size of process pid in bytes, 0 where it is unknown.
func rssOf(pid int) int64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n * int64(os.Getpagesize())
}

func (a *agent) onCancel(m *nats.Msg) {
	var ce cancelEnv
	if unmarshal(m.Data, &ce) != nil {
		return
	}
	a.mu.Lock()
	abort := a.running[ce.ID]
	if abort == nil {
		now := time.Now()
		a.cancelled[ce.ID] = now
		if len(a.cancelled) > 1024 {
			for id, at := range a.cancelled {
				if now.Sub(at) > time.Minute {
					delete(a.cancelled, id)
				}
			}
		}
	}
	a.mu.Unlock()
	if abort != nil {
		abort(errCancelled)
	}
}

// pull takes tasks for the free slots until ctx ends: whenever slots are free and no pull asks
// for them, it asks the server for up to that many tasks in one Fetch, and runs each task as it
// arrives. The pulls outstanding never ask for more tasks than there are free slots, so the agent
// holds no task it cannot start; a pull's unused share goes back to the free slots when it ends.
// The tasks run on goroutines added to wg.
func (a *agent) pull(ctx context.Context, wg *sync.WaitGroup) {
	free := a.cfg.slots // slots neither running a task nor asked for by a pull
	var mu sync.Mutex
	wake := make(chan struct{}, 1)
	give := func(n int) { // n slots are free again
		mu.Lock()
		free += n
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var backoff atomic.Int64
	backoff.Store(int64(10 * time.Millisecond))
	for ctx.Err() == nil {
		mu.Lock()
		n := free
		free = 0
		mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
			case <-wake:
			}
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := a.cons.Fetch(n, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			give(n)
			if ctx.Err() == nil { // the server is away: try again soon
				d := time.Duration(backoff.Load())
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
				backoff.Store(int64(min(2*d, time.Second)))
			}
			continue
		}
		wg.Go(func() {
			defer cancel()
			got := 0
			for msg := range batch.Messages() {
				got++
				backoff.Store(int64(10 * time.Millisecond))
				wg.Go(func() {
					defer give(1)
					a.run(ctx, msg)
				})
			}
			if err := batch.Error(); got == 0 && err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				// The server refused the pull (the consumer gone, say): wait before the next.
				d := time.Duration(backoff.Load())
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
				backoff.Store(int64(min(2*d, time.Second)))
			}
			give(n - got)
		})
		// Loop: slots freed while this pull waits get a pull of their own.
	}
}

// run runs one task message and settles it: a result (acknowledged once the pool has it), a
// worker's death (Nak: at once to another attempt), or, when the agent stops, back to the queue.
func (a *agent) run(ctx context.Context, msg jetstream.Msg) {
	var env taskEnv
	if err := unmarshal(msg.Data(), &env); err != nil || env.ID == "" || env.Reply == "" {
		msg.TermWithReason("malformed task")
		return
	}
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	res := resultEnv{ID: env.ID, Attempt: attempt, Agent: a.name(), Host: a.host, Pid: os.Getpid()}
	switch {
	case env.Hash != a.hash:
		res.Err = mp.MarshalError(fmt.Errorf("%w: agent %s runs a binary whose registered functions differ from the sender's (registry hash %s, the task's %s): run the same build of the program on every host", ErrBinaryMismatch, a.name(), a.hash, env.Hash))
		a.reply(msg, env, res)
		return
	case attempt > env.MaxAttempts:
		res.Attempt = attempt - 1
		res.Err = mp.MarshalError(fmt.Errorf("%w: %s got no result from the agent that ran its last attempt (lost or cut off)", mp.ErrWorkerDied, env.Func))
		a.reply(msg, env, res)
		return
	}
	// The agent registers the task as running before anything else, and skips it when its pool
	// cancelled it already: the pool broadcasts each cancel (mp.cancel), which the agent either
	// applies to the running task or keeps in its cancel set for a task yet to arrive.
	var stopCause atomic.Value
	var abortFn atomic.Pointer[func(error)]
	stop := func(cause error) {
		stopCause.CompareAndSwap(nil, cause)
		if ab := abortFn.Load(); ab != nil {
			(*ab)(cause)
		}
	}
	a.mu.Lock()
	_, cancelled := a.cancelled[env.ID]
	if cancelled {
		delete(a.cancelled, env.ID)
	} else {
		a.running[env.ID] = stop
	}
	a.mu.Unlock()
	if cancelled {
		msg.Ack()
		return
	}
	defer func() {
		a.mu.Lock()
		delete(a.running, env.ID)
		a.mu.Unlock()
	}()
	arg := env.Arg
	if env.ArgObj != "" {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		b, err := a.c.obj.GetBytes(octx, env.ArgObj)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				msg.Nak()
				return
			}
			res.Err = mp.MarshalError(fmt.Errorf("mpnats: fetch the argument of %s from the object store: %w", env.Func, err))
			a.reply(msg, env, res)
			return
		}
		arg = b
	}
	done := make(chan mp.Result, 1)
	call, err := mp.NewCall(env.Func, arg, env.Chunk, func(r mp.Result) { r.Value = bytes.Clone(r.Value); done <- r }) // the bytes are the pool's after done returns
	if err != nil {
		res.Err = mp.MarshalError(err)
		a.reply(msg, env, res)
		return
	}
	call.Timeout, call.Retries = time.Duration(env.Timeout), 0
	// The pool learns that the task starts (for its snapshots and Shutdown's CancelPending); the
	// agent does not wait for an answer: a cancel reaches the task through the cancel set.
	started := res
	started.Kind = resStarted
	a.c.nc.Publish(env.Reply, marshal(started))
	a.busy.Add(1)
	defer a.busy.Add(-1)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	abort := a.pool.Execute(cctx, call)
	abortFn.Store(&abort)
	if cause, _ := stopCause.Load().(error); cause != nil { // cancelled while it was being started
		abort(cause)
	}
	stopOnEnd := context.AfterFunc(ctx, func() { stop(errAgentStopped) })
	defer stopOnEnd()
	tick := time.NewTimer(a.progressEvery())
	defer tick.Stop()
	var r mp.Result
wait:
	for {
		select {
		case r = <-done:
			break wait
		case <-tick.C:
			msg.InProgress()
			tick.Reset(a.progressEvery())
		}
	}
	switch stopCause.Load() {
	case errCancelled: // the pool completed the call already
		msg.Ack()
		return
	case errAgentStopped:
		msg.Nak() // another agent runs it
		return
	}
	// A local pool that cannot keep workers alive runs nothing more: the task goes back to be
	// run elsewhere, and the agent stops (Serve returns the error).
	if r.Err != nil && errors.Is(r.Err, mp.ErrBrokenPool) {
		msg.Nak()
		a.stop(r.Err)
		return
	}
	// A worker that died with the task running, or after its function returned but before the
	// result was sent (mp.ErrResultLost: a local pool never reruns that one), gives the task
	// another attempt: a cluster's execution is at least once, and the caller gets a result.
	if r.Err != nil && (errors.Is(r.Err, mp.ErrWorkerDied) || errors.Is(r.Err, mp.ErrResultLost)) && attempt < env.MaxAttempts {
		res.Kind, res.Reason = resAttempt, r.Err.Error()
		a.c.nc.Publish(env.Reply, marshal(res)) // before the Nak: the pool has it before the next attempt's result
		msg.Nak()
		return
	}
	a.tasks.Add(1)
	res.Done, res.Err = r.Done, mp.MarshalError(r.Err)
	if r.Err == nil || env.Chunk > 0 {
		res.Value = r.Value
	}
	switch {
	case env.MaxResult > 0 && int64(len(res.Value)) > env.MaxResult:
		res.Value, res.Done = nil, 0
		res.Err = mp.MarshalError(fmt.Errorf("%w: the result of %s is %d bytes, over the pool's limit of %d (mpnats.WithMaxResultSize)", mp.ErrTooLarge, env.Func, len(r.Value), env.MaxResult))
	case len(res.Value) > a.c.inlineLimit():
		name := "res-" + env.ID + "-" + strconv.Itoa(attempt)
		octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := a.c.obj.PutBytes(octx, name, res.Value)
		cancel()
		res.Value = nil
		if err != nil {
			res.Done = 0
			res.Err = mp.MarshalError(fmt.Errorf("mpnats: store the %d-byte result of %s: %w", len(r.Value), env.Func, err))
		} else {
			res.ValueObj = name
		}
	}
	a.reply(msg, env, res)
}

var errAgentStopped = errors.New("mpnats: the agent stopped")

func (a *agent) name() string {
	return fmt.Sprintf("%s/%d/%s", a.host, os.Getpid(), a.id[len(a.id)-6:])
}

// reply sends a task's outcome to its pool and acknowledges the task once the pool has answered
// that it has it; the slot does not wait for that answer. Without an answer within replyWait the
// task is handed back (Nak): it runs again, and the pool, if it had the result after all, counts a
// duplicate.
func (a *agent) reply(msg jetstream.Msg, env taskEnv, res resultEnv) {
	a.mu.Lock()
	a.replySeq++
	n := a.replySeq
	a.awaiting[n] = awaited{msg: msg, timer: time.AfterFunc(replyWait, func() { a.settle(n, false) })}
	a.mu.Unlock()
	if err := a.c.nc.PublishRequest(env.Reply, a.inbox+"."+strconv.FormatUint(n, 10), marshal(res)); err != nil {
		a.settle(n, false)
	}
}

// awaited is a task whose result was sent, until the pool answers.
type awaited struct {
	msg   jetstream.Msg
	timer *time.Timer
}

// settleAll waits up to d for the pools to answer the results sent, then hands back the tasks
// still unanswered.
func (a *agent) settleAll(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		a.mu.Lock()
		left := make([]uint64, 0, len(a.awaiting))
		for n := range a.awaiting {
			left = append(left, n)
		}
		a.mu.Unlock()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range left {
				a.settle(n, false)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// replyWait is how long an agent waits for the pool to answer a result.
const replyWait = 10 * time.Second

// settle acknowledges (ok) or hands back the task whose result was sent as number n, once.
func (a *agent) settle(n uint64, ok bool) {
	a.mu.Lock()
	w, found := a.awaiting[n]
	delete(a.awaiting, n)
	a.mu.Unlock()
	switch {
	case !found:
	case ok:
		w.timer.Stop()
		w.msg.Ack()
	default:
		w.timer.Stop()
		w.msg.Nak()
	}
}

func (a *agent) onReply(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	n, err := strconv.ParseUint(m.Subject[i+1:], 10, 64)
	if err != nil {
		return
	}
	a.settle(n, true) // an answer, or no responders (a 503 status): the pool is gone and wants nothing

}
