package mp

import (
	"fmt"
	"os"
	"time"
)

// What happens when a worker process ends: each call it held is judged by its slot (requeued,
// retried or failed), then a new worker takes its place, or the pool breaks.

// exit handles the end of the worker process, once every reply it wrote has been read: it takes
// back the worker's unfinished jobs (takeBackLocked), requeues or fails them, and decides whether a
// new worker takes its place (replaceLocked).
func (w *worker) exit(startErr error) {
	p := w.p
	p.mu.Lock()
	delete(p.workers, w)
	for i, q := range p.waiting {
		if q == w {
			p.waiting = append(p.waiting[:i:i], p.waiting[i+1:]...)
			break
		}
	}
	task := ""
	if len(w.pending) > 0 && w.slots.state(w.pending[0].slot, w.pending[0].id) >= slotRunning {
		task = w.pending[0].fname
	}
	failed, requeue, ran := w.takeBackLocked()
	open := p.state == poolOpen || p.state == poolShuttingDown
	if open {
		if len(requeue) > 0 {
			p.queue = append(requeue, p.queue...)
		}
		requeue = nil
	} else {
		requeue = append(requeue, p.queue...) // nothing runs any more: they fail, with the queue
		p.queue = nil
	}
	respawn := w.replaceLocked(startErr, ran)
	reason, detail := w.exitReasonLocked(startErr)
	p.obs.addExit(WorkerExit{ID: w.id, Pid: w.pid, At: time.Now(), Reason: reason, Detail: detail, Task: task, ReplacedBy: w.replacedBy})
	p.kickWaitingLocked()
	p.signalIdleLocked()
	state := p.state
	closedErr := p.closedErr()
	if respawn {
		p.owners.Add(1)
	}
	p.mu.Unlock()

	for _, f := range failed {
		f.j.stopTimer()
		err := f.err
		if state == poolClosed {
			err = errPoolClosedRunning
		}
		f.j.complete(nil, 0, err)
	}
	for _, j := range requeue {
		j.complete(nil, 0, closedErr)
	}
	if startErr != nil {
		p.workerFailedStart(startErr)
	}
	if respawn {
		if startErr != nil {
			time.Sleep(10 * time.Millisecond) // do not spin on a worker that cannot start
		}
		p.spawn(nil, w.id)
	}
}

// takeBackLocked takes back the jobs still pending on the dead worker, each judged by its slot:
// one that had not started is to be requeued; the one that was running fails with the worker's
// exit status (ErrWorkerDied), or is to be requeued if it has retries left; one whose function had
// returned fails with ErrResultLost. ran reports whether a job was running or done: the worker did
// not die idle. The caller holds p.mu.
func (w *worker) takeBackLocked() (failed []failedJob, requeue []*job, ran bool) {
	p := w.p
	st := w.st
	pending := w.pending
	w.pending = nil
	p.sent -= len(pending)
	for _, j := range pending {
		j.w = nil
		if j.finished.Load() {
			if w.slots.state(j.slot, j.id) >= slotRunning {
				ran = true
			}
			continue
		}
		switch w.slots.state(j.slot, j.id) {
		case slotSent:
			j.stopTimer() // it had not started: its timeout starts again on its next worker
			requeue = append(requeue, j)
		case slotDone:
			ran = true
			failed = append(failed, failedJob{j, &ExitError{Name: w.name, Pid: w.pid, ProcessState: st, cause: ErrResultLost}})
		default: // running
			ran = true
			j.starts++
			if j.starts <= j.retries {
				p.obs.retried.Add(1)
				j.stopTimer()
				requeue = append(requeue, j)
				continue
			}
			var err error = &ExitError{Name: w.name, Pid: w.pid, ProcessState: st, cause: ErrWorkerDied}
			if st == nil {
				err = fmt.Errorf("%w: %s (pid %d)", ErrWorkerDied, w.name, w.pid)
			}
			if j.starts > 1 {
				err = fmt.Errorf("mp: task %s: its worker died in each of %d attempts; the last: %w", j.fname, j.starts, err)
			}
			failed = append(failed, failedJob{j, err})
		}
	}
	return failed, requeue, ran
}

// replaceLocked counts the dead worker's death and reports whether a new worker is to take its
// place: not when the pool wants no more workers (wantsWorkerLocked), nor when the worker was
// replaced already (retireLocked), nor when this death breaks the pool — more than
// maxDeathsNoProgress crashes in a row with no task finished (ran says whether it had one running
// or done). A worker that failed to start is counted by workerFailedStart instead. The caller
// holds p.mu, and has requeued the worker's jobs.
func (w *worker) replaceLocked(startErr error, ran bool) bool {
	p := w.p
	if startErr == nil && w.crashed && !w.retiring && !ran {
		p.deathsNoProgress++
	}
	respawn := !w.replaced && p.wantsWorkerLocked()
	w.replaced = true
	if startErr == nil && p.deathsNoProgress > maxDeathsNoProgress(p.cfg.workers) && p.state == poolOpen {
		p.breakLocked(fmt.Errorf("%w: %d workers died in a row without finishing a task", ErrBrokenPool, p.deathsNoProgress))
		return false
	}
	return respawn
}

// exitReasonLocked says why the worker ended: the reason the pool recorded when it decided to end
// it (markLocked), else what its exit status tells. The caller holds p.mu.
func (w *worker) exitReasonLocked(startErr error) (ExitReason, string) {
	st := w.st
	status := "status unknown"
	if st != nil {
		status = st.String()
	}
	switch {
	case startErr != nil:
		return ExitStartFail, startErr.Error()
	case w.why != "" && (w.poolKilled || st == nil || st.Success()):
		return w.why, w.whyDetail + " (" + status + ")"
	case st == nil:
		return ExitSignal, "the worker ended; its status is unknown"
	}
	reason, detail := exitCodeReason(st)
	if sig, ok := exitSignal(st); ok {
		reason, detail = ExitSignal, "killed by "+sig+", not by the pool ("+status+")"
	}
	if w.why != "" {
		// Told to retire, it died otherwise than by exiting: what killed it is the news.
		detail += "; it was retiring: " + w.whyDetail
	}
	return reason, detail
}

// exitCodeReason says why a worker that exited by itself did: exit status 2 is what the Go
// runtime gives for a panic that no recover caught (one in a goroutine the call started, say).
func exitCodeReason(st *os.ProcessState) (ExitReason, string) {
	code := st.ExitCode()
	if code == 2 {
		return ExitPanic, "exit status 2: a panic outside the call's recovery (a goroutine it started, say), or os.Exit(2); the worker's stderr has the stack"
	}
	return ExitCode, fmt.Sprintf("the worker exited by itself with status %d (os.Exit(%d) in a call?)", code, code)
}
