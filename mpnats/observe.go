package mpnats

import (
	"context"
	"errors"
	"time"

	"github.com/mp-go/mp"
)

// Outcomes of calls, as mp.TaskEvent names them.
const (
	outOK = iota
	outFailed
	outCancelled
	outTimeout
	outDied
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "failed", "cancelled", "timeout", "died"}

type observer struct{ fn func(mp.TaskEvent) }

// count records a call's outcome and tells the observers.
func (p *Pool) count(t *task, err error, res *resultEnv) {
	o := outOK
	switch {
	case err == nil:
	case res == nil && !errors.Is(err, context.DeadlineExceeded):
		o = outCancelled // the pool decided it: an abort, its ctx, Close
	case errors.Is(err, context.DeadlineExceeded):
		o = outTimeout
	case errors.Is(err, mp.ErrWorkerDied):
		o = outDied
	default:
		o = outFailed
	}
	p.counts[o].Add(1)
	p.mu.Lock()
	started := t.started
	p.mu.Unlock()
	ev := mp.TaskEvent{Task: t.call.Func, Items: t.call.Chunk, Ran: time.Since(t.sent), Outcome: outcomeNames[o], Err: err}
	if !started.IsZero() {
		ev.Queued, ev.Ran = started.Sub(t.sent), time.Since(started)
	}
	if res != nil {
		ev.Host, ev.Pid = res.Host, res.Pid
	}
	p.observers.Range(func(k, _ any) bool {
		k.(*observer).fn(ev)
		return true
	})
}

// Observe calls fn with every call's completion until stop is called (mp.Observer). Queued is
// the time from Execute until an agent said it started the last attempt, Ran the time since (the
// time from Execute, with Queued 0, for a call no agent started). fn runs on the goroutine that completes the call and must not block.
func (p *Pool) Observe(fn func(mp.TaskEvent)) (stop func()) {
	o := &observer{fn: fn}
	p.observers.Store(o, struct{}{})
	return func() { p.observers.Delete(o) }
}

// Snapshot returns the pool's state (mp.Observer): Kind "nats", Size the live agents' slots,
// Queued the calls sent and not running, Running the agents' busy slots, the counts, and the
// Cluster section (agents, redeliveries, duplicates, tasks delivered and not yet acknowledged).
// Workers, Exits, Failures and Maps are not reported by this pool.
func (p *Pool) Snapshot() mp.PoolSnapshot {
	agents := p.Agents()
	running := 0
	for _, a := range agents {
		if !a.Lost {
			running += a.Busy
		}
	}
	p.mu.Lock()
	pending, closed := len(p.pending), p.closed
	started := 0
	for _, t := range p.pending {
		if !t.started.IsZero() {
			started++
		}
	}
	p.mu.Unlock()
	running = max(running, started)
	s := mp.PoolSnapshot{
		Name: p.name, Kind: "nats", Size: p.Workers(), Queued: max(0, pending-running), Running: running, Closed: closed,
		Counts: mp.TaskCounts{
			Submitted: uint64(p.submitted.Load()), Succeeded: p.counts[outOK].Load(), Failed: p.counts[outFailed].Load(),
			Cancelled: p.counts[outCancelled].Load(), TimedOut: p.counts[outTimeout].Load(), WorkerDied: p.counts[outDied].Load(),
			Retried: uint64(p.redeliveries.Load()),
		},
		Cluster: &mp.ClusterSnapshot{Agents: agents, Redelivered: uint64(p.redeliveries.Load()), Duplicates: uint64(p.duplicates.Load())},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if info, err := p.c.tasks.Info(ctx); err == nil {
		s.Cluster.PendingAcks = uint64(info.NumAckPending)
	}
	return s
}

var _ mp.Observer = (*Pool)(nil)
