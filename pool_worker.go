package mp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// callFrame appends the Call frame of j, which was assigned to w, to buf, after sending w the
// descriptors of j's handles on the control socket.
func (w *worker) callFrame(buf []byte, j *job) []byte {
	n := 0
	if j.nfds > 0 {
		j.fdsMu.Lock()
		if n = len(j.fds); n > 0 {
			// A failure means the worker is dying; its death requeues or fails the job.
			sys.WriteWithFDs(w.conn, wire.AppendPair(nil, wire.TypeFDs, j.id, uint64(n)), j.fds)
		}
		j.fdsMu.Unlock()
	}
	return wire.AppendFrame(buf, wire.TypeCall, &wire.Call{ID: j.id, Func: j.fname, Arg: j.arg, Chunk: j.chunk, Timeout: int64(j.timeout), FDs: n, Slot: j.slot})
}

// worker is the parent's side of one worker process.
type worker struct {
	p       *Pool
	proc    workerProc
	conn    *os.File // control socket: handshake, then aborts
	calls   *os.File // pipe to the worker: calls and Retire
	replies *os.File // pipe from the worker: replies
	pid     int
	name    string

	wmu sync.Mutex // serialises writes to calls
	amu sync.Mutex // serialises writes to conn

	slots *slotTable // which of the calls sent the worker has started (slots.go)

	// Guarded by p.mu.
	pending  []*job   // sent and not answered (nor taken back), in order; the first may be running
	free     slotFree // slots not used by a pending job
	sentJobs int
	ready    bool
	retiring bool
	exited   bool
	waiting  bool
	replaced bool
	ewma     float64 // nanoseconds per job, smoothed
	headAt   time.Time

	direct     bool // a caller has the worker to itself (claimIdle)
	readerIdle bool // the reader waits, not reading

	rr    *replyReader  // replies; read by the reader, or by a direct caller
	rfds  replyFDs      // descriptors of results, ahead of their replies
	kick  chan struct{} // wakes the writer
	rkick chan struct{} // wakes the reader
	quit  chan struct{}
	dead  chan struct{} // closed when the control socket reports the worker gone
	done  chan struct{}

	// For observers (pool_observe.go), guarded by p.mu: the worker's ID in the pool, the ID of the
	// worker it replaced and of the one that replaced it, when it started, how many calls it
	// completed, and why the pool ended it, if the pool did (markLocked).
	id         int
	replaces   int
	replacedBy int
	started    time.Time
	tasksDone  uint64
	why        ExitReason
	whyDetail  string
	poolKilled bool // the pool killed it (markKillLocked)

	// How the process ended, once reaped (reap): for the owner, then for exit.
	reaped  bool
	st      *os.ProcessState
	crashed bool
}

func (w *worker) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// send writes frames to the worker; a failed write means it is dying, which its owner handles.
func (w *worker) send(frames []byte) {
	w.wmu.Lock()
	w.calls.Write(frames)
	w.wmu.Unlock()
}

func (w *worker) kill() {
	w.proc.kill()
}

// reap waits for the process to end, once, and records how it ended. Only the owner calls it.
func (w *worker) reap() {
	if !w.reaped {
		w.reaped = true
		w.st, w.crashed = w.proc.wait()
	}
}

// markLocked records why the pool is about to retire the worker, for its WorkerExit; the first
// reason stands. The caller holds p.mu.
func (w *worker) markLocked(reason ExitReason, detail string) {
	if w.why == "" && !w.exited {
		w.why, w.whyDetail = reason, detail
	}
}

// markKillLocked is markLocked for a worker the pool is about to kill: its SIGKILL is the pool's,
// not one from outside. The caller holds p.mu.
func (w *worker) markKillLocked(reason ExitReason, detail string) {
	if !w.exited {
		w.markLocked(reason, detail)
		w.poolKilled = true
	}
}

// retireLocked tells the worker to finish what it has and exit, and takes it out of the rotation;
// reason and detail say why, for its WorkerExit. The caller holds p.mu.
func (w *worker) retireLocked(reason ExitReason, detail string) {
	if w.retiring || w.exited {
		return
	}
	w.markLocked(reason, detail)
	w.retiring = true
	if w.waiting {
		w.waiting = false
		for i, q := range w.p.waiting {
			if q == w {
				w.p.waiting = append(w.p.waiting[:i:i], w.p.waiting[i+1:]...)
				break
			}
		}
	}
	w.wake() // the writer sends Retire after the calls it has sent, and stops
	if !w.replaced && w.p.state == poolOpen {
		w.replaced = true
		w.p.owners.Add(1)
		go w.p.spawn(nil, w.id)
	}
}

// assignLocked makes j the worker's latest pending job, in a free slot marked sent, before its call
// is written. The caller holds p.mu and has checked that the worker has room (a window never
// exceeds numSlots). It reports whether j is now the head, which runs as soon as it arrives.
func (w *worker) assignLocked(j *job) bool {
	j.w = w
	j.slot = w.free.take()
	w.slots.words[j.slot].Store(slotWord(j.id, slotSent))
	w.pending = append(w.pending, j)
	w.sentJobs++
	w.p.sent++
	j.pid.Store(int64(w.pid))
	if len(w.pending) == 1 {
		w.headAt = time.Now()
		j.ranAt.Store(w.headAt.UnixNano())
		return true
	}
	return false
}

// removeLocked takes pending job j off the worker and frees its slot. If that makes another job the
// head, it returns it: its timeout starts now. The caller holds p.mu.
func (w *worker) removeLocked(j *job) (head *job) {
	for i, q := range w.pending {
		if q != j {
			continue
		}
		copy(w.pending[i:], w.pending[i+1:])
		w.pending[len(w.pending)-1] = nil
		w.pending = w.pending[:len(w.pending)-1]
		w.free.put(j.slot)
		w.p.sent--
		if i == 0 && len(w.pending) > 0 {
			w.headAt = time.Now()
			head = w.pending[0]
			head.ranAt.Store(w.headAt.UnixNano())
		}
		return head
	}
	return nil
}

// revokeLocked takes pending job j back from the worker if the worker has not started it, so that
// it never will: the worker skips its call. It reports whether it did, and the new head, if any
// (see removeLocked). The caller holds p.mu.
func (w *worker) revokeLocked(j *job) (head *job, ok bool) {
	if j.w != w || w.exited || !w.slots.words[j.slot].CompareAndSwap(slotWord(j.id, slotSent), 0) {
		return nil, false
	}
	head = w.removeLocked(j)
	w.sentJobs-- // it counts for WithMaxTasksPerWorker where it runs
	j.w = nil
	return head, true
}

// stealLocked moves jobs that wait behind a busy worker's running job back to the front of the
// pool's queue, for w, which is idle: half of the busiest worker's unstarted jobs (at least one),
// taken from the back of its line. It reports whether it took any. The caller holds p.mu.
func (w *worker) stealLocked() bool {
	p := w.p
	var victim *worker
	most := 0
	for v := range p.workers {
		if v == w || v.exited || len(v.pending) < 2 {
			continue
		}
		// Jobs start in order, so the unstarted ones are a run at the back of the line; the
		// head is about to run even if it has not yet.
		n := 0
		for i := len(v.pending) - 1; i >= 1; i-- {
			j := v.pending[i]
			if v.slots.state(j.slot, j.id) != slotSent {
				break
			}
			n++
		}
		if n > most {
			victim, most = v, n
		}
	}
	if victim == nil {
		return false
	}
	take := (most + 1) / 2
	var got []*job
	for i := len(victim.pending) - 1; i >= 1 && len(got) < take; i-- {
		j := victim.pending[i]
		if _, ok := victim.revokeLocked(j); !ok {
			break // it has just started, and so have the ones before it
		}
		got = append(got, j)
	}
	if len(got) == 0 {
		return false
	}
	for l, r := 0, len(got)-1; l < r; l, r = l+1, r-1 {
		got[l], got[r] = got[r], got[l]
	}
	p.queue = append(got, p.queue...)
	victim.wake() // it has room again
	return true
}

// window is how many jobs the worker may have in flight: enough to cover a round trip when tasks
// are tiny, one when they are long, so that a slow task holds up as little as possible.
func (w *worker) window() int {
	if w.ewma <= 0 {
		return 1 // nothing known yet: assume the task is long
	}
	n := int(200e3/w.ewma) + 1
	return max(1, min(n, numSlots))
}

// own is the worker's owner: it sends the task, waits for the handshake, serves replies until the
// worker exits, then reaps it and hands back its unfinished work.
func (w *worker) own(task *wire.Task, handshake chan<- error) {
	p := w.p
	defer p.owners.Done()
	in := bufio.NewReaderSize(w.conn, 64<<10)
	b, _ := wire.Marshal(task)
	err := wire.WriteFrame(fdWriter{w.conn, p.cfg.initFDs}, wire.TypeTask, b)
	if err == nil {
		err = w.handshake(in)
	}
	if err == nil {
		p.mu.Lock()
		w.ready = true
		p.startFails = 0
		p.mu.Unlock()
	}
	if handshake != nil {
		handshake <- err
	}
	writerDone := make(chan struct{})
	if err == nil {
		go w.watchDeath()
		go w.writeLoop(writerDone)
		w.readLoop()
	} else {
		close(writerDone)
		close(w.dead)
		w.kill()
	}
	p.mu.Lock()
	w.exited = true
	p.mu.Unlock()
	close(w.quit)
	<-writerDone
	w.reap()
	<-w.dead
	w.rfds.drain()
	w.amu.Lock()
	w.conn.Close()
	w.amu.Unlock()
	w.wmu.Lock()
	w.calls.Close()
	w.wmu.Unlock()
	w.replies.Close()
	w.exit(err)
	p.mu.Lock()
	w.slots.seg.Close() // exit has read the slots; nothing reads them once the worker has exited
	p.mu.Unlock()
	close(w.done)
}

// handshake reads the worker's Ready frame.
func (w *worker) handshake(in *bufio.Reader) error {
	typ, payload, err := wire.ReadFrame(in, wire.DefaultMaxFrame)
	if err != nil {
		w.reap()
		return fmt.Errorf("%w: %w; is mp.Init() the first statement of main?", ErrHandshake, &ExitError{Name: w.name, Pid: w.pid, ProcessState: w.st})
	}
	var r wire.Ready
	if typ != wire.TypeReady || wire.Unmarshal(payload, &r) != nil {
		return fmt.Errorf("%w: worker %s sent a bad handshake", ErrProtocol, w.name)
	}
	if r.Err != nil {
		return fromWire(w.name, w.pid, r.Err)
	}
	return nil
}

// writeLoop sends queued jobs to the worker while it has room for them. A worker with nothing in
// flight and nothing queued takes back jobs that wait behind a busy worker (stealLocked) before it
// waits in the pool's list, so that no job waits for a busy worker while this one is idle.
func (w *worker) writeLoop(done chan struct{}) {
	defer close(done)
	p := w.p
	var buf []byte
	for {
		p.mu.Lock()
		if w.exited {
			p.mu.Unlock()
			return
		}
		if w.retiring {
			p.mu.Unlock()
			w.send(wire.AppendID(nil, wire.TypeRetire, 0))
			return
		}
		room := w.window() - len(w.pending)
		if w.direct || p.paused {
			room = 0 // a caller has the worker to itself; it wakes us when done
		}
		if p.cfg.maxTasks > 0 {
			room = min(room, p.cfg.maxTasks-w.sentJobs)
		}
		if room > 0 && len(w.pending) == 0 && len(p.queue) == 0 && w.stealLocked() {
			p.kickWaitingLocked()
		}
		// Take no more than a fair share of what is queued, so that two tasks for two idle
		// workers go one to each.
		if n := len(p.workers); n > 1 {
			room = min(room, max(1, (len(p.queue)+n-1)/n))
		}
		buf = buf[:0]
		var heads []*job
		for room > 0 && len(p.queue) > 0 {
			j := p.queue[0]
			p.queue[0] = nil
			p.queue = p.queue[1:]
			if j.finished.Load() {
				continue
			}
			if w.assignLocked(j) {
				heads = append(heads, j) // it runs at once: its timeout starts now
			}
			room--
			buf = w.callFrame(buf, j)
		}
		retire := p.cfg.maxTasks > 0 && w.sentJobs >= p.cfg.maxTasks
		if retire {
			w.retireLocked(ExitMaxTasks, fmt.Sprintf("retired after %d calls (WithMaxTasksPerWorker)", p.cfg.maxTasks))
		}
		if len(p.queue) == 0 {
			p.signalIdleLocked()
		}
		if len(buf) == 0 && room > 0 && !w.waiting && !retire {
			// Room for work but none queued: wait in the pool's list, where Submit finds it. A
			// worker without room waits for its reader instead, which wakes it on each reply.
			w.waiting = true
			p.waiting = append(p.waiting, w)
		}
		p.mu.Unlock()
		for _, j := range heads {
			w.startTimer(j)
		}
		if len(buf) > 0 || retire {
			w.rwake() // before writing: the worker may block on its replies until they are read
			w.send(buf)
			continue
		}
		select {
		case <-w.kick:
		case <-w.quit:
			return
		}
	}
}

// startTimer arms the task timeout of j, which has just started running in the worker.
func (w *worker) startTimer(j *job) {
	if j.timeout <= 0 {
		return
	}
	t := time.AfterFunc(j.timeout*time.Duration(max(1, j.chunk)), func() {
		w.p.abort(j, fmt.Errorf("mp: task %s on %s: %w", j.fname, w.name, context.DeadlineExceeded))
	})
	if old := j.timer.Swap(t); old != nil {
		old.Stop()
	}
}

// readLoop serves the worker's replies until it exits. It reads only while calls are pending and
// no caller has taken the worker for a direct call (see applyDirect); otherwise it waits to be
// woken, or for the worker's death.
func (w *worker) readLoop() {
	p := w.p
	for {
		p.mu.Lock()
		for {
			dead := closed(w.dead)
			if !w.direct && (len(w.pending) > 0 || dead) {
				break
			}
			w.readerIdle = true
			p.mu.Unlock()
			if dead {
				<-w.rkick
			} else {
				select {
				case <-w.rkick:
				case <-w.dead:
				}
			}
			p.mu.Lock()
			w.readerIdle = false
		}
		p.mu.Unlock()
		typ, payload, err := w.rr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				w.killUntrusted() // a reply that breaks the protocol: the worker is not to be trusted
			}
			return
		}
		if !w.handleFrame(typ, payload, false) {
			w.killUntrusted()
			return
		}
	}
}

// killUntrusted kills a worker that broke the protocol.
func (w *worker) killUntrusted() {
	w.p.mu.Lock()
	w.markKillLocked(ExitSignal, "SIGKILL from the pool: the worker broke the control protocol")
	w.p.mu.Unlock()
	w.kill()
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (w *worker) rwake() {
	select {
	case w.rkick <- struct{}{}:
	default:
	}
}

// watchDeath reads the control socket, on which the worker sends only the descriptors of results
// after its handshake (reply_fds.go): end of file means it has exited.
func (w *worker) watchDeath() {
	defer close(w.dead)
	w.watchControl()
}

// handleFrame completes the pending call a reply answers. It reports false for a frame that
// breaks the protocol: the worker is then not to be trusted.
func (w *worker) handleFrame(typ byte, payload []byte, direct bool) bool {
	p := w.p
	var r wire.Reply
	if typ != wire.TypeReply || wire.Unmarshal(payload, &r) != nil {
		return false
	}
	now := time.Now()
	p.mu.Lock()
	if len(w.pending) == 0 || w.pending[0].id != r.ID {
		p.mu.Unlock()
		return false // a reply out of order
	}
	j := w.pending[0]
	took := float64(now.Sub(w.headAt))
	next := w.removeLocked(j)
	w.tasksDone++
	p.deathsNoProgress = 0
	if chunk := max(1, j.chunk); chunk > 1 {
		took /= float64(chunk)
	}
	if w.ewma == 0 {
		w.ewma = took
	} else {
		w.ewma = 0.8*w.ewma + 0.2*took
	}
	p.signalIdleLocked()
	p.mu.Unlock()
	if !direct {
		w.wake() // room for one more
	}
	j.replied.Store(true)
	j.stopTimer()
	if next != nil {
		w.startTimer(next)
	}
	var jerr error
	var rfds []int
	if r.Err != nil {
		jerr = fromWire(w.name, w.pid, r.Err)
	} else if r.FDs > 0 {
		rfds, jerr = w.rfds.take(r.ID)
	}
	j.completeFDs(r.Value, rfds, r.Done, jerr)
	return true
}

// failedJob is a job taken back from a dead worker that fails, with why.
type failedJob struct {
	j   *job
	err error
}
