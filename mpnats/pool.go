package mpnats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Pool is an mp.Executor whose calls run on the worker agents of a Cluster (see Serve): pass it to
// mp.Apply, Submit, Map, MapSeq and MapSeqUnordered as a *mp.Pool. Each call is a task message on
// a JetStream work queue, taken by an agent with a free slot; its result comes back to this pool,
// which completes the Future once, however many times the task ran (a duplicate is counted, see
// Duplicates).
//
// A call's WithRetries sets its attempts (retries+1); without it the pool's WithMaxAttempts,
// 3 by default. WithTaskTimeout is enforced by the agent, which kills a worker process that does
// not return. Cancelling a call (its ctx, Future.Cancel, the first error of a Map) removes a task
// not yet taken, and makes the agent running one stop it, killing its worker process when it
// does not return within the agent's cancel grace. An argument or a result too big for a
// message goes by the JetStream Object Store and is deleted once the call completes.
//
// An argument holding handles (a Queue, a Mutex, shared memory) cannot cross to another host:
// such a call fails with an error matching mp.ErrNotSupported.
type Pool struct {
	c       *Cluster
	name    string
	subject string // where tasks go
	reply   string // where results come
	cfg     poolConfig
	hash    string
	sub     *nats.Subscription
	hbSub   *nats.Subscription
	stream  jetstream.Stream

	counts    [nOutcomes]atomic.Uint64
	observers sync.Map // *observer → struct{}

	mu      sync.Mutex
	pending map[string]*task
	closed  bool
	live    int        // calls executed and not yet finished (Finish has returned)
	idle    *sync.Cond // signalled when live drops to 0
	agents  map[string]*agentSeen

	wg           sync.WaitGroup // publishers and cleaners
	submitted    atomic.Int64
	completed    atomic.Int64
	duplicates   atomic.Int64
	redeliveries atomic.Int64
}

// task is a call the pool has sent and not yet completed.
type task struct {
	call     *mp.Call
	sent     time.Time
	started  time.Time // when an agent said it started the last attempt
	seq      uint64    // its stream sequence, once published
	attempts []string
	argObj   string
	stop     func() bool // stops the ctx watcher
}

type agentSeen struct {
	hb   heartbeat
	seen time.Time
}

// PoolOption configures NewPool.
type PoolOption interface{ applyPool(*poolConfig) error }

type poolConfig struct {
	maxAttempts int
	maxResult   int64
	workers     int
	timeout     time.Duration
	hbTimeout   time.Duration
	clusterOpts []Option // NewLocalPool's
}

type poolOptionFunc func(*poolConfig) error

func (f poolOptionFunc) applyPool(c *poolConfig) error { return f(c) }

// WithMaxAttempts sets how many times a task runs when the worker process running it dies, before
// its Future fails with an error matching mp.ErrWorkerDied (default 3). A worker that died after
// the function returned but before its result was sent counts too (on a local mp.Pool that task
// fails with mp.ErrResultLost and is not run again; a cluster runs it again, at least once being
// its promise, and the last attempt's mp.ErrResultLost is the Future's error). A call's
// mp.WithRetries overrides it. n < 1 is an error.
func WithMaxAttempts(n int) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if n < 1 {
			return fmt.Errorf("mpnats: WithMaxAttempts(%d): a task needs at least one attempt", n)
		}
		c.maxAttempts = n
		return nil
	})
}

// WithMaxResultSize sets the largest result (encoded) a task may return, 64 MiB by default; a
// bigger one fails its call, without retrying it, with an error matching mp.ErrTooLarge.
func WithMaxResultSize(bytes int64) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if bytes < 1 {
			return fmt.Errorf("mpnats: WithMaxResultSize(%d): the limit must be positive", bytes)
		}
		c.maxResult = bytes
		return nil
	})
}

// WithWorkers sets what Workers reports before any agent has been heard from (default 1). Once
// agents send heartbeats, Workers is the sum of their slots.
func WithWorkers(n int) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if n < 1 {
			return fmt.Errorf("mpnats: WithWorkers(%d): must be at least 1", n)
		}
		c.workers = n
		return nil
	})
}

// WithTaskTimeout bounds each task of the pool (for a Map, each item) as mp.WithTaskTimeout does
// for a *mp.Pool; a call's own mp.WithTaskTimeout wins. The agent enforces it, killing a worker
// process that does not return within its cancel grace after the timeout.
func WithTaskTimeout(d time.Duration) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		if d <= 0 {
			return fmt.Errorf("mpnats: WithTaskTimeout(%v): the timeout must be positive", d)
		}
		c.timeout = d
		return nil
	})
}

// NewPool makes a pool named name on c: the name tells pools apart in subjects and snapshots (two
// live pools of one cluster need different names). Agents serve every pool of their cluster.
func NewPool(ctx context.Context, c *Cluster, name string, opts ...PoolOption) (*Pool, error) {
	if c == nil {
		return nil, fmt.Errorf("mpnats: NewPool(%q) with a nil *Cluster", name)
	}
	if !validName(name) {
		return nil, fmt.Errorf("mpnats: NewPool(%q): a pool name is letters, digits, '-' and '_'", name)
	}
	cfg := poolConfig{maxAttempts: 3, maxResult: 64 << 20, workers: 1, hbTimeout: 3 * heartbeatEvery}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("mpnats: a nil PoolOption")
		}
		if err := o.applyPool(&cfg); err != nil {
			return nil, err
		}
	}
	if err := c.headSetup(ctx); err != nil {
		return nil, err
	}
	st, err := c.js.Stream(ctx, taskStream)
	if err != nil {
		return nil, fmt.Errorf("mpnats: the task stream: %w", err)
	}
	p := &Pool{
		c: c, name: name, cfg: cfg, hash: mp.RegistryHash(), stream: st,
		subject: "mp.tasks." + name,
		reply:   "mp.res." + name + "." + nuid.Next(),
		pending: make(map[string]*task),
		agents:  make(map[string]*agentSeen),
	}
	p.idle = sync.NewCond(&p.mu)
	if err := p.checkSubmit(ctx); err != nil {
		return nil, err
	}
	if p.sub, err = c.nc.Subscribe(p.reply, p.onResult); err != nil {
		return nil, fmt.Errorf("mpnats: subscribe to results: %w", err)
	}
	p.sub.SetPendingLimits(-1, -1)
	if p.hbSub, err = c.nc.Subscribe(hbPrefix+"*", p.onHeartbeat); err != nil {
		p.sub.Unsubscribe()
		return nil, fmt.Errorf("mpnats: subscribe to heartbeats: %w", err)
	}
	if err := c.nc.FlushTimeout(readyWait(ctx)); err != nil { // not FlushWithContext: it refuses a ctx without a deadline
		p.sub.Unsubscribe()
		p.hbSub.Unsubscribe()
		return nil, fmt.Errorf("mpnats: subscribe: %w", err)
	}
	return p, nil
}

// ErrNoSubmitPermission is matched by the error of NewPool on a Cluster whose credentials may not
// submit tasks, such as the agents' (AgentCredentials): the server would drop every task.
var ErrNoSubmitPermission = errors.New("mpnats: these credentials may not submit tasks")

// checkSubmit makes sure the pool's connection may publish tasks: it sends a probe the task stream
// refuses (it expects a last sequence the stream never has, so nothing is stored), and fails fast
// when the server reports a permissions violation instead. Without this check, a pool made with
// an agent's credentials would wait for every task's publish to time out.
func (p *Pool) checkSubmit(ctx context.Context) error {
	violation, stop := p.c.perms.watch(p.subject)
	defer stop()
	pctx, cancel := context.WithTimeout(ctx, readyWait(ctx))
	defer cancel()
	published := make(chan error, 1)
	go func() {
		_, err := p.c.js.Publish(pctx, p.subject, nil, jetstream.WithExpectLastSequence(^uint64(0)>>1))
		published <- err
	}()
	select {
	case err := <-violation:
		cancel()
		<-published
		return fmt.Errorf("%w: NewPool(%q): the server refuses this connection's tasks (%v); make pools with the head's credentials, not the agents' (AgentCredentials)", ErrNoSubmitPermission, p.name, err)
	case err := <-published:
		var apiErr *jetstream.APIError
		if err == nil || errors.As(err, &apiErr) { // refused by the stream, as meant: tasks get through
			return nil
		}
		return fmt.Errorf("mpnats: NewPool(%q): send a probe task: %w", p.name, err)
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Workers returns the slots of the live agents (those heard from within three heartbeats), or
// WithWorkers's value when there are none.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.agents {
		if time.Since(a.seen) < p.cfg.hbTimeout && !a.hb.Stopped {
			n += a.hb.Slots
		}
	}
	if n == 0 {
		return p.cfg.workers
	}
	return n
}

// Execute sends c as a task. See mp.Executor for the contract.
func (p *Pool) Execute(ctx context.Context, c *mp.Call) func(error) {
	arg, err := c.Arg()
	if err != nil {
		c.Finish(mp.Result{Err: err})
		return func(error) {}
	}
	id := nuid.Next()
	t := &task{call: c, sent: time.Now()}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Finish(mp.Result{Err: fmt.Errorf("%w: mpnats pool %s", mp.ErrClosed, p.name)})
		return func(error) {}
	}
	p.pending[id] = t
	p.live++
	p.wg.Add(1)
	p.mu.Unlock()
	p.submitted.Add(1)
	abort := func(cause error) { p.abort(id, cause) }
	t.stop = context.AfterFunc(ctx, func() { abort(context.Cause(ctx)) })
	attempts := p.cfg.maxAttempts
	if c.Retries >= 0 {
		attempts = c.Retries + 1
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = p.cfg.timeout
	}
	env := taskEnv{ID: id, Func: c.Func, Chunk: c.Chunk, Timeout: int64(timeout), Hash: p.hash,
		MaxAttempts: attempts, Reply: p.reply, MaxResult: p.cfg.maxResult}
	go p.publish(t, env, arg)
	return abort
}

// publish sends a task, its argument by the Object Store when it is too big for a message.
func (p *Pool) publish(t *task, env taskEnv, arg []byte) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(arg) > p.c.inlineLimit() {
		name := "arg-" + env.ID
		if _, err := p.c.obj.PutBytes(ctx, name, arg); err != nil {
			p.finish(env.ID, mp.Result{Err: fmt.Errorf("mpnats: store the %d-byte argument of %s: %w", len(arg), env.Func, err)})
			return
		}
		env.ArgObj = name
		p.mu.Lock()
		t.argObj = name
		gone := p.pending[env.ID] != t
		p.mu.Unlock()
		if gone {
			p.c.obj.Delete(ctx, name)
			return
		}
	} else {
		env.Arg = arg
	}
	ack, err := p.send(ctx, env)
	if err != nil {
		p.finish(env.ID, mp.Result{Err: fmt.Errorf("mpnats: send task %s: %w", env.Func, err)})
		return
	}
	p.mu.Lock()
	t.seq = ack.Sequence
	gone := p.pending[env.ID] != t
	p.mu.Unlock()
	if gone { // aborted while it was being sent: take it back
		p.stream.DeleteMsg(ctx, ack.Sequence)
	}
}

// send publishes a task and waits for the stream to store it. It publishes asynchronously (and
// waits on the ack's future): many tasks sent at once then share the connection's writes rather
// than each making a request, which sends tasks several times faster. Past the connection's
// limit of acks awaited (4,000), it waits for room up to ctx's end.
func (p *Pool) send(ctx context.Context, env taskEnv) (*jetstream.PubAck, error) {
	stall := time.Second
	if d, ok := ctx.Deadline(); ok {
		stall = max(time.Until(d), time.Millisecond)
	}
	f, err := p.c.js.PublishAsync(p.subject, marshal(env), jetstream.WithMsgID(env.ID), jetstream.WithStallWait(stall))
	if err != nil {
		return nil, err
	}
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// take removes the task id from the pending ones, and returns it (nil when it was not pending).
func (p *Pool) take(id string) *task {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.pending[id]
	if t != nil {
		delete(p.pending, id)
	}
	return t
}

// finish completes task id with r, if it is pending, and cleans up after it.
func (p *Pool) finish(id string, r mp.Result) bool {
	return p.finishFrom(id, r, nil)
}

// finishFrom is finish for an outcome an agent sent (res), nil for one the pool decided.
func (p *Pool) finishFrom(id string, r mp.Result, res *resultEnv) bool {
	t := p.take(id)
	if t == nil {
		return false
	}
	t.stop()
	t.call.Finish(r)
	p.completed.Add(1)
	p.count(t, r.Err, res)
	p.mu.Lock()
	obj := t.argObj
	p.live--
	if p.live == 0 {
		p.idle.Broadcast()
	}
	p.mu.Unlock()
	if obj != "" {
		p.deleteObject(obj)
	}
	return true
}

func (p *Pool) deleteObject(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.c.obj.Delete(ctx, name)
}

// abort finishes task id with cause and stops it: a task not yet taken is removed from the
// stream, a running one is stopped by its agent.
func (p *Pool) abort(id string, cause error) {
	p.mu.Lock()
	t := p.pending[id]
	seq := uint64(0)
	if t != nil {
		seq = t.seq
	}
	p.mu.Unlock()
	if !p.finish(id, mp.Result{Err: cause}) {
		return
	}
	p.c.nc.Publish(cancelSubject, marshal(cancelEnv{ID: id}))
	if seq != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.stream.DeleteMsg(ctx, seq) // an error: it was taken already, or is gone
		cancel()
	}
}

// onResult handles an agent's message about a task.
func (p *Pool) onResult(m *nats.Msg) {
	var r resultEnv
	if err := unmarshal(m.Data, &r); err != nil {
		return // not from an agent of this binary: nothing to complete
	}
	if r.Kind == resStarted { // answer whether the call is still wanted
		p.mu.Lock()
		t := p.pending[r.ID]
		if t != nil {
			t.started = time.Now()
		}
		p.mu.Unlock()
		if m.Reply == "" { // agents send it without waiting for an answer
			return
		}
		if t != nil { // an agent of an earlier version asks whether the call is still wanted
			m.Respond([]byte{1})
		} else {
			m.Respond([]byte{0})
		}
		return
	}
	defer m.Respond(nil) // the agent acknowledges the task once the pool has its outcome
	if r.Kind == resAttempt {
		p.mu.Lock()
		if t := p.pending[r.ID]; t != nil {
			t.attempts = append(t.attempts, fmt.Sprintf("attempt %d on agent %s: %s", r.Attempt, r.Agent, r.Reason))
		}
		p.mu.Unlock()
		p.redeliveries.Add(1)
		return
	}
	p.mu.Lock()
	t := p.pending[r.ID]
	var attempts []string
	if t != nil {
		attempts = t.attempts
	}
	p.mu.Unlock()
	if t == nil {
		p.duplicates.Add(1) // it ran again after its result arrived, or was cancelled
		return
	}
	res := mp.Result{Value: r.Value, Done: r.Done, Err: mp.UnmarshalError(r.Err)}
	if r.ValueObj != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := p.c.obj.GetBytes(ctx, r.ValueObj)
		cancel()
		p.deleteObject(r.ValueObj)
		if err != nil && res.Err == nil {
			res.Err = fmt.Errorf("mpnats: fetch the result of %s from the object store: %w", t.call.Func, err)
		}
		res.Value = v
	}
	if res.Err != nil && errors.Is(res.Err, mp.ErrWorkerDied) {
		res.Err = attemptsError(t.call.Func, r, attempts, res.Err)
	}
	if !p.finishFrom(r.ID, res, &r) {
		p.duplicates.Add(1)
	}
}

// attemptsError is the error of a task whose every attempt's worker died: it says how many ran,
// and how each ended. An attempt the pool heard nothing of ran on an agent that was lost.
func attemptsError(fn string, r resultEnv, attempts []string, last error) error {
	n := max(r.Attempt, 1)
	heard := make(map[int]bool)
	for _, a := range attempts {
		var k int
		fmt.Sscanf(a, "attempt %d", &k)
		heard[k] = true
	}
	var lines []string
	for k := 1; k < n; k++ {
		if !heard[k] {
			lines = append(lines, fmt.Sprintf("attempt %d: no word from its agent (lost or cut off); handed on after the ack wait", k))
		}
	}
	lines = append(lines, attempts...)
	lines = append(lines, fmt.Sprintf("attempt %d on agent %s: %v", n, r.Agent, last))
	return &AttemptsError{Func: fn, Attempts: n, Reasons: lines, Last: last}
}

// AttemptsError is the error of a task that failed on its last attempt because the worker process
// running it died (or the agent was lost) every time. It matches mp.ErrWorkerDied.
type AttemptsError struct {
	Func     string
	Attempts int      // how many attempts ran
	Reasons  []string // how each ended, in order
	Last     error    // the last attempt's error
}

// Error says how many attempts ran and why each ended.
func (e *AttemptsError) Error() string {
	return fmt.Sprintf("mpnats: task %s failed after %d attempts: %s", e.Func, e.Attempts, strings.Join(e.Reasons, "; "))
}

// Unwrap returns the last attempt's error, which matches mp.ErrWorkerDied.
func (e *AttemptsError) Unwrap() error { return e.Last }

func (p *Pool) onHeartbeat(m *nats.Msg) {
	var hb heartbeat
	if unmarshal(m.Data, &hb) != nil || hb.ID == "" {
		return
	}
	p.mu.Lock()
	if hb.Stopped {
		delete(p.agents, hb.ID)
	} else {
		p.agents[hb.ID] = &agentSeen{hb: hb, seen: time.Now()}
	}
	p.mu.Unlock()
}

// liveAgents returns the agents heard from within three heartbeats.
func (p *Pool) liveAgents() []agentSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []agentSeen
	for _, a := range p.agents {
		if time.Since(a.seen) < p.cfg.hbTimeout {
			out = append(out, *a)
		}
	}
	return out
}

// Agents returns the agents the pool has heard from, and whether each is lost: it missed three
// heartbeats (it died, is stopped, or is cut off). An agent that stopped is removed.
func (p *Pool) Agents() []mp.AgentSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]mp.AgentSnapshot, 0, len(p.agents))
	for _, a := range p.agents {
		out = append(out, mp.AgentSnapshot{Name: a.hb.ID, Host: a.hb.Host, Pid: a.hb.Pid, Version: a.hb.Version,
			Slots: a.hb.Slots, Busy: a.hb.Busy, RSS: uint64(a.hb.RSS), LastBeat: a.seen,
			Lost: time.Since(a.seen) >= p.cfg.hbTimeout, TasksDone: uint64(a.hb.Tasks)})
	}
	return out
}

// Duplicates returns how many results arrived for calls that were complete already: tasks that
// ran more than once (an agent lost after it ran a task, say), or ran on after being cancelled.
func (p *Pool) Duplicates() int64 { return p.duplicates.Load() }

// Redeliveries returns how many attempts ended with their worker process's death and were handed
// to an agent again.
func (p *Pool) Redeliveries() int64 { return p.redeliveries.Load() }

// Shutdown stops taking calls (later ones fail with mp.ErrClosed) and waits until every call sent
// has completed, or ctx ends (then the rest fail with mp.ErrClosed and ctx's error is returned).
// With mp.CancelPending, the calls no agent has started are cancelled first (context.Canceled).
// The cluster and its agents stay up.
func (p *Pool) Shutdown(ctx context.Context, opts ...mp.ShutdownOption) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	if len(opts) > 0 { // mp.CancelPending: the calls no agent has started
		p.cancelWhere(context.Canceled, func(t *task) bool { return t.started.IsZero() })
	}
	done := make(chan struct{})
	go func() {
		p.mu.Lock()
		for p.live > 0 {
			p.idle.Wait()
		}
		p.mu.Unlock()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.cancelAll(fmt.Errorf("%w: mpnats pool %s shut down", mp.ErrClosed, p.name))
		<-done
	}
	p.stopSubs()
	return err
}

func (p *Pool) cancelAll(cause error) { p.cancelWhere(cause, func(*task) bool { return true }) }

// cancelWhere aborts the pending calls for which which returns true.
func (p *Pool) cancelWhere(cause error, which func(*task) bool) {
	p.mu.Lock()
	ids := make([]string, 0, len(p.pending))
	for id, t := range p.pending {
		if which(t) {
			ids = append(ids, id)
		}
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.abort(id, cause)
	}
}

func (p *Pool) stopSubs() {
	p.wg.Wait()
	p.sub.Unsubscribe()
	p.hbSub.Unsubscribe()
}

// Close cancels every call not complete (with an error matching mp.ErrClosed) and stops the pool.
// The cluster and its agents stay up. It is safe to call more than once.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancelAll(fmt.Errorf("%w: mpnats pool %s closed", mp.ErrClosed, p.name))
	p.stopSubs()
	return nil
}
