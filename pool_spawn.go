package mp

import (
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

var workerCounter atomic.Int64

// spawn starts one worker. If handshake is not nil, it receives exactly one value: nil once the
// worker has answered its handshake, or why it did not. The caller has added one to p.owners for
// it: the worker's owner goroutine releases it, or spawn does when it starts none.
func (p *Pool) spawn(handshake chan<- error) {
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
		var cmd *exec.Cmd
		var conn *os.File
		cmd, conn, err = startChild(childSpec{name: name, env: p.cfg.env, ownGroup: true, extra: []*os.File{callR, replyW, slotFile}})
		callR.Close()
		replyW.Close()
		slotFile.Close()
		if err != nil {
			callW.Close()
			replyR.Close()
			slots.seg.Close()
		} else {
			p.adopt(name, n, cmd, conn, callW, replyR, slots, handshake)
			return
		}
	}
	if handshake != nil {
		handshake <- err
	}
	p.workerFailedStart(err)
	p.owners.Done()
}

// adopt takes a started worker process into the pool and starts its owner.
func (p *Pool) adopt(name string, n int64, cmd *exec.Cmd, conn, calls, replies *os.File, slots *slotTable, handshake chan<- error) {
	w := &worker{
		p: p, cmd: cmd, conn: conn, calls: calls, replies: replies, pid: cmd.Process.Pid, name: name,
		slots: slots, free: allSlotsFree,
		kick: make(chan struct{}, 1), rkick: make(chan struct{}, 1),
		quit: make(chan struct{}), dead: make(chan struct{}), done: make(chan struct{}),
		rr: newReplyReader(slots.ring, replies),
	}
	p.mu.Lock()
	if p.state == poolClosed || p.state == poolBroken {
		err := p.closedErr()
		p.mu.Unlock()
		cmd.Process.Kill()
		cmd.Wait()
		conn.Close()
		calls.Close()
		replies.Close()
		slots.seg.Close()
		bootstrap.Reaped()
		if handshake != nil {
			handshake <- err
		}
		p.owners.Done()
		return
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
