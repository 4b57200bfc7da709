package mp

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/mp-go/mp/internal/sys"
)

// The Observer and Controller methods of *Pool (observe.go).

var (
	_ Observer   = (*Pool)(nil)
	_ Controller = (*Pool)(nil)
	_ Observer   = (*GoroutinePool)(nil)
	_ Controller = (*GoroutinePool)(nil)
)

// Snapshot returns the pool's state now: its workers (with the resident memory and CPU time of
// each, read from /proc on Linux and 0 elsewhere), the calls queued and running, the counts of
// outcomes, the last worker exits and failures, and the Maps running on it.
func (p *Pool) Snapshot() PoolSnapshot {
	if p.zero() {
		return PoolSnapshot{Kind: "process", Closed: true}
	}
	var s PoolSnapshot
	p.mu.Lock()
	s.Size = p.cfg.workers
	s.Paused = p.paused
	s.Closed = p.state != poolOpen
	for _, j := range p.queue {
		if !j.finished.Load() {
			s.Queued++
		}
	}
	s.Workers = make([]WorkerSnapshot, 0, len(p.workers))
	for w := range p.workers {
		ws := WorkerSnapshot{Pid: w.pid, ID: w.id, Started: w.started, TasksDone: w.tasksDone, Replaces: w.replaces}
		switch {
		case !w.ready:
			ws.State = "starting"
		case w.retiring || w.exited:
			ws.State = "retiring"
		default:
			ws.State = "idle" // busy if its first pending call has started, below
		}
		for i, j := range w.pending {
			if w.exited || w.slots.state(j.slot, j.id) < slotRunning {
				if !j.finished.Load() {
					s.Queued++ // sent to the worker, not started there
				}
				continue
			}
			if i == 0 {
				s.Running++
				if ws.State == "idle" {
					ws.State = "busy"
				}
				ws.Task, ws.TaskID, ws.TaskStarted = j.fname, j.id, w.headAt
			}
		}
		s.Workers = append(s.Workers, ws)
	}
	p.mu.Unlock()
	p.obs.fill(&s, p.nextID.Load())
	sort.Slice(s.Workers, func(i, j int) bool { return s.Workers[i].ID < s.Workers[j].ID })
	for i := range s.Workers {
		if pid := s.Workers[i].Pid; pid > 0 {
			s.Workers[i].RSS = uint64(max(0, sys.ResidentBytes(pid)))
			s.Workers[i].CPU = sys.CPUTime(pid)
		}
	}
	return s
}

// Observe calls fn with the completion of every call on the pool (a chunk of a Map is one call)
// until stop is called; fn runs on the goroutine that completes the call and must not block. A
// nil fn observes nothing. While nobody observes, the pool builds no events.
func (p *Pool) Observe(fn func(TaskEvent)) (stop func()) {
	if p.zero() {
		return func() {}
	}
	return p.obs.observe(fn)
}

// CancelTask cancels the queued or running call whose ID a Snapshot gave (WorkerSnapshot.TaskID),
// as the end of its context would: its Future fails at once with an error matching
// context.Canceled, the call's context in the worker is cancelled, and the worker is killed (and
// replaced) if the call has not returned within the cancel grace (WithCancelGrace). A call that
// is not pending (it completed, or no such ID) is an error matching ErrNotFound.
func (p *Pool) CancelTask(id uint64) error {
	if p.zero() {
		return fmt.Errorf("%w: task %d: a nil or zero *mp.Pool", ErrNotFound, id)
	}
	p.mu.Lock()
	var found *job
	for _, j := range p.queue {
		if j.id == id {
			found = j
			break
		}
	}
	for w := range p.workers {
		for _, j := range w.pending {
			if found == nil && j.id == id {
				found = j
			}
		}
	}
	p.mu.Unlock()
	if found == nil || found.finished.Load() {
		return fmt.Errorf("%w: no pending task %d on pool %s; it may have completed since the snapshot", ErrNotFound, id, p.obs.name)
	}
	p.abort(found, fmt.Errorf("mp: task %d (%s) on pool %s cancelled by CancelTask: %w", id, found.fname, p.obs.name, context.Canceled))
	return nil
}

// Recycle retires the worker whose ID a Snapshot gave: it finishes the calls it has, exits, and a
// new worker takes its place, as WithMaxTasksPerWorker does. A worker that is not there (it
// ended, or no such ID) is an error matching ErrNotFound; so is one that is retiring already.
func (p *Pool) Recycle(workerID int) error {
	if p.zero() {
		return fmt.Errorf("%w: worker %d: a nil or zero *mp.Pool", ErrNotFound, workerID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.workers {
		if w.id == workerID && !w.exited && !w.retiring {
			w.retireLocked(ExitRecycled, "retired by Recycle")
			return nil
		}
	}
	return fmt.Errorf("%w: no live worker %d in pool %s; it may have ended since the snapshot", ErrNotFound, workerID, p.obs.name)
}

// Pause stops the pool's intake: calls submitted or queued wait, and no new one starts on a
// worker until Resume. Calls running (or sent to a worker already) go on. Shutdown resumes the
// intake, to run what is queued, and Pause after Shutdown does nothing; Close fails what waits.
func (p *Pool) Pause() {
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
func (p *Pool) Resume() {
	if p.zero() {
		return
	}
	p.mu.Lock()
	p.resumeLocked()
	p.mu.Unlock()
}

// resumeLocked ends a pause and wakes every worker's writer. The caller holds p.mu.
func (p *Pool) resumeLocked() {
	if !p.paused {
		return
	}
	p.paused = false
	for w := range p.workers {
		w.wake()
	}
}

// linkReplacementLocked records that worker id replaces worker old: on old, if it lives still
// (retired, it waits for its calls), else on its recorded exit. The caller holds p.mu.
func (p *Pool) linkReplacementLocked(old, id int) {
	for w := range p.workers {
		if w.id == old {
			w.replacedBy = id
			return
		}
	}
	p.obs.linkReplacement(old, id)
}

// trackMap shows a running Map on the pool's snapshots.
func (p *Pool) trackMap(task string, total int, done *atomic.Int64) func() {
	if p.zero() {
		return func() {}
	}
	return p.obs.trackMap(task, total, done)
}
