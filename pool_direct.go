package mp

import (
	"context"
	"time"
)

// claimIdle gives job j a worker to itself for a direct call, if one is idle and nothing is
// queued: the caller then writes the call and reads the reply on its own goroutine, with no
// hand-off to the worker's writer and reader (which, on a small machine, costs more than the
// call). It returns nil when no worker is free.
func (p *Pool) claimIdle(j *job) *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != poolOpen || len(p.queue) > 0 || p.paused {
		return nil
	}
	for i, w := range p.waiting {
		if !w.readerIdle || len(w.pending) > 0 || w.direct || w.retiring || w.exited ||
			p.cfg.maxTasks > 0 && w.sentJobs+1 >= p.cfg.maxTasks {
			continue
		}
		p.waiting = append(p.waiting[:i:i], p.waiting[i+1:]...)
		w.waiting = false
		w.direct = true
		p.stampLocked(j)
		j.interrupt = func() { w.replies.SetReadDeadline(time.Now()) }
		w.assignLocked(j)
		return w
	}
	return nil
}

// applyDirect runs job j on worker w, which claimIdle gave it: it writes the call and reads the
// reply itself. A cancellation or timeout interrupts the read; the worker's reader takes over
// whatever is left.
func (w *worker) applyDirect(ctx context.Context, j *job) {
	p := w.p
	frame := w.callFrame(nil, j)
	w.wmu.Lock()
	_, err := w.calls.Write(frame)
	w.wmu.Unlock()
	if err == nil {
		w.startTimer(j)
		stop := context.AfterFunc(ctx, func() { p.abort(j, context.Cause(ctx)) })
		typ, payload, rerr := w.rr.next()
		stop()
		if rerr == nil && !w.handleFrame(typ, payload, true) {
			w.killUntrusted()
		}
		w.replies.SetReadDeadline(time.Time{})
	}
	// Hand the worker back. Waking its reader and writer costs as much as the call did, so only
	// wake whichever has something to do; an idle worker goes straight back on the waiting list.
	p.mu.Lock()
	w.direct = false
	wakeReader := len(w.pending) > 0 || closed(w.dead)
	wakeWriter := len(p.queue) > 0 || w.retiring || w.exited
	if !wakeWriter && !w.waiting {
		w.waiting = true
		p.waiting = append(p.waiting, w)
	}
	p.mu.Unlock()
	if wakeReader {
		w.rwake()
	}
	if wakeWriter {
		w.wake()
	}
}
