package mp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/wire"
)

// workerMain is Init in a pool worker: it runs the initializer, answers the handshake, then serves
// Call frames in the order they arrive, one at a time, answering each with a Reply, until the
// parent sends Retire (or dies). It never returns.
//
// Calls arrive on a pipe (descriptor 4) and replies leave on another (5): a pipe costs half what a
// socket does per round trip. One goroutine reads calls, runs them and writes replies, so a call
// costs no goroutine hand-off
// (a hand-off to a second goroutine tripled the round trip of a small call here; polling the
// socket before parking, tried too, made it worse on two CPUs, where the poller competes with the
// parent).
// Replies are buffered and written when no further call has arrived, so a stream of small calls
// costs one write per batch. Aborts come on the control socket, watched by a goroutine of their own
// while a call runs: an Abort cancels the running call, or marks a queued one to be answered as
// cancelled without running. End of file on the socket or the call pipe means the parent died.
//
// A call whose argument holds handles has their descriptors sent ahead of it on the control socket,
// in an FDs frame naming the call; the worker waits for them before decoding the argument.
func workerMain(conn *os.File, ctl fdReader, callFD, replyFD int, task *wire.Task, initFDs []int) {
	// The terminal's Ctrl-C is the parent's to handle; the pool puts workers in their own process
	// group, and this keeps a stray SIGINT from killing a worker mid-task.
	signal.Ignore(syscall.SIGINT)
	calls, err := bootstrap.ControlFile(callFD)
	if err != nil {
		refuse(conn, fmt.Errorf("%w: call pipe: %v", ErrProtocol, err))
	}
	replies, err := bootstrap.ControlFile(replyFD)
	if err != nil {
		refuse(conn, fmt.Errorf("%w: reply pipe: %v", ErrProtocol, err))
	}

	if task.InitFunc != "" {
		run := mustPrepare(conn, "initializer", task.InitFunc, task.InitArg, initFDs)
		if _, werr := callProtected(context.Background(), run); werr != nil {
			refuseWire(conn, werr)
		}
	}
	if err := wire.WriteMessage(conn, wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: os.Getpid()}); err != nil {
		bootstrap.KillSelf()
	}

	if task.InitFunc == "" {
		closeFDs(initFDs)
	}
	w := &workerState{aborted: make(map[uint64]bool), fds: make(map[uint64][]int)}
	w.fdsCond = sync.NewCond(&w.mu)
	go w.watchAborts(ctl)
	in := bufio.NewReaderSize(calls, 64<<10)
	out := bufio.NewWriterSize(replies, 64<<10)
	buf := make([]byte, 0, 256)
	for {
		if in.Buffered() == 0 {
			// About to wait for the next call: send the replies first.
			if err := out.Flush(); err != nil {
				bootstrap.KillSelf()
			}
		}
		typ, payload, err := wire.ReadFrame(in, wire.DefaultMaxFrame)
		if err != nil {
			bootstrap.KillSelf() // the parent is gone
		}
		switch typ {
		case wire.TypeCall:
			var c wire.Call
			if err := wire.Unmarshal(payload, &c); err != nil {
				fmt.Fprintf(os.Stderr, "mp: worker %d: bad call frame (%v); exiting\n", os.Getpid(), err)
				os.Exit(3)
			}
			buf = wire.AppendFrame(buf[:0], wire.TypeReply, w.serve(&c))
			if _, err := out.Write(buf); err != nil {
				bootstrap.KillSelf()
			}
		case wire.TypeRetire:
			if err := out.Flush(); err != nil {
				bootstrap.KillSelf()
			}
			Cleanup()
			os.Exit(0)
		default:
			fmt.Fprintf(os.Stderr, "mp: worker %d: unexpected frame type %d; exiting\n", os.Getpid(), typ)
			os.Exit(3)
		}
	}
}

type workerState struct {
	mu      sync.Mutex
	running uint64             // the ID of the call running now, 0 between calls
	cancel  context.CancelFunc // cancels the running call
	lastID  uint64             // the last call served; IDs only grow
	aborted map[uint64]bool    // calls aborted before they ran
	fds     map[uint64][]int   // descriptors of calls' handles, arrived ahead of the calls
	fdsCond *sync.Cond         // signalled when descriptors arrive
}

// takeFDs waits for the descriptors of call id's handles.
func (w *workerState) takeFDs(id uint64) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if fds, ok := w.fds[id]; ok {
			delete(w.fds, id)
			return fds
		}
		w.fdsCond.Wait()
	}
}

// watchAborts serves the control socket for the life of the worker.
func (w *workerState) watchAborts(ctl fdReader) {
	in := bufio.NewReader(ctl)
	for {
		typ, payload, err := wire.ReadFrame(in, 1<<10)
		if err != nil {
			bootstrap.KillSelf() // the parent is gone
		}
		if typ == wire.TypeFDs {
			id, n, err := wire.ParsePair(payload)
			var fds []int
			if err == nil {
				fds, err = ctl.Take(int(n))
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "mp: worker %d: bad descriptors frame (%v); exiting\n", os.Getpid(), err)
				os.Exit(3)
			}
			w.mu.Lock()
			w.fds[id] = fds
			w.fdsCond.Broadcast()
			w.mu.Unlock()
			continue
		}
		if typ != wire.TypeAbort {
			continue
		}
		id, err := wire.ParseID(payload)
		if err != nil {
			continue
		}
		w.mu.Lock()
		if id == w.running {
			w.cancel()
		} else if id > w.lastID {
			w.aborted[id] = true
		}
		w.mu.Unlock()
	}
}

// serve runs one call and returns its reply.
func (w *workerState) serve(c *wire.Call) *wire.Reply {
	reply := &wire.Reply{ID: c.ID}
	var fds []int
	if c.FDs > 0 {
		fds = w.takeFDs(c.ID)
	}
	w.mu.Lock()
	if w.aborted[c.ID] {
		closeFDs(fds)
		delete(w.aborted, c.ID)
		w.lastID = c.ID
		w.mu.Unlock()
		reply.Err = toWire(context.Canceled)
		return reply
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.running, w.cancel = c.ID, cancel
	w.mu.Unlock()

	e, ok := lookup(c.Func)
	switch {
	case !ok:
		closeFDs(fds)
		reply.Err = toWire(fmt.Errorf("%w: function %q is not registered in the worker", ErrNotRegistered, c.Func))
	case c.Chunk > 0:
		reply.Value, reply.Done, reply.Err = e.chunk(ctx, c.Arg, fds, c.Chunk, time.Duration(c.Timeout))
	default:
		run, err := e.prepare(c.Arg, fds)
		if err != nil {
			reply.Err = toWire(err)
			break
		}
		cctx := ctx
		if c.Timeout > 0 {
			var cancelT context.CancelFunc
			cctx, cancelT = context.WithTimeout(ctx, time.Duration(c.Timeout))
			defer cancelT()
		}
		reply.Value, reply.Err = callProtected(cctx, run)
		if reply.Err == nil && c.Timeout > 0 && cctx.Err() == context.DeadlineExceeded {
			// It returned, but after its deadline: the caller has been told it timed out.
			reply.Value, reply.Err = nil, toWire(pastTimeout(c.Func, c.Timeout))
		}
		if reply.Err == nil {
			reply.Done = 1
		}
	}

	w.mu.Lock()
	w.running, w.cancel, w.lastID = 0, nil, c.ID
	w.mu.Unlock()
	cancel()
	return reply
}

// pastTimeout is the error of a task that returned only after its timeout.
func pastTimeout(name string, timeout int64) error {
	return fmt.Errorf("mp: task %s ran past its timeout of %v: %w", name, time.Duration(timeout), context.DeadlineExceeded)
}
