package mp

import (
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

var workerCounter atomic.Int64

// workerProc is a started worker process as the pool sees it: what it signals and how it is
// reaped. A pool starts its workers with its config's startWorker, which is startOSWorker but for
// tests of the pool's bookkeeping, whose "processes" are goroutines
// (pool_bookkeeping_internal_test.go).
type workerProc interface {
	pid() int
	// kill ends the process at once (SIGKILL). It is safe from any goroutine, and a no-op once
	// the process has ended.
	kill()
	// wait waits for the process to end and reaps it; the pool calls it once. st says how it
	// ended, for an ExitError (nil if unknown); crashed, whether it ended otherwise than by
	// exiting with status 0.
	wait() (st *os.ProcessState, crashed bool)
}

// startWorkerFunc starts a worker process as startChild does: the child's end of a new control
// socket as its descriptor 3, spec.extra after it. It returns the process and the parent's end of
// the socket; the caller closes its copies of spec.extra either way.
type startWorkerFunc func(spec childSpec) (workerProc, *os.File, error)

// startOSWorker is the real startWorkerFunc: a re-exec of this binary.
func startOSWorker(spec childSpec) (workerProc, *os.File, error) {
	cmd, conn, err := startChild(spec)
	if err != nil {
		return nil, nil, err
	}
	return osWorker{cmd}, conn, nil
}

// osWorker is a worker process started by startChild.
type osWorker struct{ cmd *exec.Cmd }

func (o osWorker) pid() int { return o.cmd.Process.Pid }
func (o osWorker) kill()    { o.cmd.Process.Kill() }

func (o osWorker) wait() (*os.ProcessState, bool) {
	o.cmd.Wait()
	bootstrap.Reaped()
	st := o.cmd.ProcessState
	return st, st != nil && !st.Success()
}

// spawn starts one worker. If handshake is not nil (NewPool's first workers), it receives exactly
// one value: nil once the worker has answered its handshake, or why it did not. The caller has
// added one to p.owners for it: the worker's owner goroutine releases it, or spawn does when it
// starts none. A replacement that cannot be started is tried again, as one that fails its
// handshake is (exit), until three failures in a row break the pool. Nothing is started for a
// pool that is closed or broken.
//
// replaces is the ID of the worker this one replaces, 0 for one of the first.
func (p *Pool) spawn(handshake chan<- error, replaces int) {
	for {
		p.mu.Lock()
		stopped := p.state == poolClosed || p.state == poolBroken
		err := p.closedErr()
		p.mu.Unlock()
		if !stopped {
			if err = p.start(handshake, replaces); err == nil {
				return // adopted: its owner has the handshake and the p.owners count
			}
			p.workerFailedStart(err)
		}
		if handshake != nil {
			handshake <- err
		}
		p.mu.Lock()
		retry := !stopped && handshake == nil && p.wantsWorkerLocked()
		p.mu.Unlock()
		if !retry {
			p.owners.Done()
			return
		}
		time.Sleep(10 * time.Millisecond) // do not spin on a worker that cannot start
	}
}

// wantsWorkerLocked reports whether the pool replaces a worker that is gone: while it is open, and
// while it shuts down with work left. The caller holds p.mu.
func (p *Pool) wantsWorkerLocked() bool {
	return p.state == poolOpen || p.state == poolShuttingDown && (len(p.queue) > 0 || p.sent > 0)
}

// start starts one worker process and adopts it, or returns why it could not start it.
func (p *Pool) start(handshake chan<- error, replaces int) error {
	n := workerCounter.Add(1)
	name := "PoolWorker-" + strconv.FormatInt(n, 10)
	// Calls and replies travel on two pipes, which cost half what a socket does per round trip;
	// the control socket carries the handshake and then the aborts, and tells each side when the
	// other has died.
	// The call slots (slots.go) are a page of shared memory, the worker's fourth descriptor.
	var callR, callW, replyR, replyW *os.File
	slots, err := newSlotTable()
	if err == nil {
		callR, callW, err = os.Pipe()
		if err != nil {
			slots.seg.Close()
		}
	}
	if err == nil {
		replyR, replyW, err = os.Pipe()
		if err != nil {
			callR.Close()
			callW.Close()
			slots.seg.Close()
		}
	}
	if err == nil {
		sys.GrowWorkerPipe(callW)
		sys.GrowWorkerPipe(replyW)
		slotFile := os.NewFile(uintptr(slots.seg.FD), "mp-worker-slots")
		slots.seg.FD = -1 // slotFile owns it now
		var proc workerProc
		var conn *os.File
		proc, conn, err = p.cfg.startWorker(childSpec{name: name, env: p.cfg.env, ownGroup: true, extra: []*os.File{callR, replyW, slotFile}})
		callR.Close()
		replyW.Close()
		slotFile.Close()
		if err != nil {
			callW.Close()
			replyR.Close()
			slots.seg.Close()
		} else {
			p.adopt(name, n, proc, conn, callW, replyR, slots, handshake, replaces)
		}
	}
	return err
}

// adopt takes a started worker process into the pool and starts its owner.
func (p *Pool) adopt(name string, n int64, proc workerProc, conn, calls, replies *os.File, slots *slotTable, handshake chan<- error, replaces int) {
	w := &worker{
		p: p, proc: proc, conn: conn, calls: calls, replies: replies, pid: proc.pid(), name: name,
		slots: slots, free: allSlotsFree,
		kick: make(chan struct{}, 1), rkick: make(chan struct{}, 1),
		quit: make(chan struct{}), dead: make(chan struct{}), done: make(chan struct{}),
		rr: newReplyReader(slots.ring, replies),
	}
	p.mu.Lock()
	if p.state == poolClosed || p.state == poolBroken {
		err := p.closedErr()
		p.mu.Unlock()
		proc.kill()
		proc.wait()
		conn.Close()
		calls.Close()
		replies.Close()
		slots.seg.Close()
		if handshake != nil {
			handshake <- err
		}
		p.owners.Done()
		return
	}
	p.workerSeq++
	w.id, w.replaces, w.started = p.workerSeq, replaces, time.Now()
	if replaces != 0 {
		p.linkReplacementLocked(replaces, w.id)
	}
	p.workers[w] = struct{}{}
	p.mu.Unlock()
	cur := currentInfo()
	task := &wire.Task{
		Version: wire.Version, Name: name, Ident: strconv.FormatInt(n, 10),
		ParentName: cur.Name, ParentPid: cur.Pid,
		Worker: true, InitFunc: p.cfg.initFunc, InitArg: p.cfg.initArg,
	}
	go w.own(task, handshake)
}
