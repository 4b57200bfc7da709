package mp

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
)

// The Observer and Controller methods of *GoroutinePool (observe.go).

// Snapshot returns the pool's state now: its worker goroutines (Pid 0, RSS and CPU 0: they share
// this process), the calls queued and running, the counts of outcomes, the last worker ends and
// failures, and the Maps running on it. A call's start time (TaskStarted) is known for calls
// that started after the pool's first Snapshot or while someone observes it.
func (p *GoroutinePool) Snapshot() PoolSnapshot {
	if p.zero() {
		return PoolSnapshot{Kind: "goroutine", Closed: true}
	}
	p.watched.Store(true)
	var s PoolSnapshot
	p.mu.Lock()
	s.Size = p.workers
	s.Paused = p.paused
	s.Closed = p.state != poolOpen
	for _, c := range p.queue.calls[p.queue.head:] {
		if !c.Finished() {
			s.Queued++
		}
	}
	s.Running = len(p.running)
	submitted := p.nextID
	s.Workers = make([]WorkerSnapshot, 0, len(p.gworkers))
	for gw := range p.gworkers {
		ws := WorkerSnapshot{ID: gw.id, Replaces: gw.replaces, Started: gw.started, TasksDone: gw.tasksDone, State: "idle"}
		if c := gw.cur; c != nil {
			ws.State, ws.Task, ws.TaskID = "busy", c.Func, c.g.id
			ws.TaskStarted = timeOfUnixNano(c.g.ranAt)
		}
		if gw.recycle {
			ws.State = "retiring"
		}
		s.Workers = append(s.Workers, ws)
	}
	p.mu.Unlock()
	p.obs.fill(&s, submitted)
	sort.Slice(s.Workers, func(i, j int) bool { return s.Workers[i].ID < s.Workers[j].ID })
	return s
}

// Observe calls fn with the completion of every call on the pool (a chunk of a Map is one call)
// until stop is called; fn runs on the goroutine that completes the call and must not block. A
// nil fn observes nothing. While nobody observes, the pool builds no events.
func (p *GoroutinePool) Observe(fn func(TaskEvent)) (stop func()) {
	if p.zero() {
		return func() {}
	}
	return p.obs.observe(fn)
}

// CancelTask cancels the queued or running call whose ID a Snapshot gave, as the end of its
// context would: its Future fails at once with an error matching context.Canceled and the
// function's context is cancelled; a goroutine cannot be killed, so a function that ignores its
// context runs on (see GoroutinePool). A call that is not pending is an error matching
// ErrNotFound.
func (p *GoroutinePool) CancelTask(id uint64) error {
	if p.zero() {
		return fmt.Errorf("%w: task %d: a nil or zero *mp.GoroutinePool", ErrNotFound, id)
	}
	p.mu.Lock()
	var found *Call
	for c := range p.running {
		if c.g.id == id {
			found = c
		}
	}
	if found == nil {
		for _, c := range p.queue.calls[p.queue.head:] {
			if c.g.id == id {
				found = c
				break
			}
		}
	}
	p.mu.Unlock()
	if found == nil || found.Finished() {
		return fmt.Errorf("%w: no pending task %d on pool %s; it may have completed since the snapshot", ErrNotFound, id, p.obs.name)
	}
	p.abort(found, fmt.Errorf("mp: task %d (%s) on pool %s cancelled by CancelTask: %w", id, found.Func, p.obs.name, context.Canceled))
	return nil
}

// Recycle ends the worker goroutine whose ID a Snapshot gave once its call returns, and starts a
// fresh one in its place (which runs the initializer again). A worker that is not there, or is
// being recycled already, is an error matching ErrNotFound.
func (p *GoroutinePool) Recycle(workerID int) error {
	if p.zero() {
		return fmt.Errorf("%w: worker %d: a nil or zero *mp.GoroutinePool", ErrNotFound, workerID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for gw := range p.gworkers {
		if gw.id == workerID && !gw.recycle && p.state == poolOpen {
			gw.recycle = true
			p.wake.Broadcast()
			return nil
		}
	}
	return fmt.Errorf("%w: no live worker %d in pool %s; it may have ended since the snapshot", ErrNotFound, workerID, p.obs.name)
}

// Pause stops the pool's intake: queued calls wait, and no new one starts until Resume. Calls
// running go on. Shutdown resumes the intake, to run what is queued, and Pause after Shutdown
// does nothing; Close fails what waits.
func (p *GoroutinePool) Pause() {
	if p.zero() {
		return
	}
	p.mu.Lock()
	if p.state == poolOpen {
		p.paused = true
	}
	p.mu.Unlock()
}

// Resume undoes Pause: queued calls start again.
func (p *GoroutinePool) Resume() {
	if p.zero() {
		return
	}
	p.mu.Lock()
	p.paused = false
	p.wake.Broadcast()
	p.mu.Unlock()
}

// trackMap shows a running Map on the pool's snapshots.
func (p *GoroutinePool) trackMap(task string, total int, done *atomic.Int64) func() {
	if p.zero() {
		return func() {}
	}
	return p.obs.trackMap(task, total, done)
}
