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
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// workerMain is Init in a pool worker. It runs the initializer, answers the handshake, then serves
// calls one at a time, in the order they arrive, until the parent sends Retire (or dies). It never
// returns.
//
// What the worker is handed, and what for:
//   - descriptor 3, the control socket: Abort frames (cancel the running call) and FDs frames (the
//     descriptors of a call's handles, sent ahead of the call, which waits for them before its
//     argument is decoded), read by a goroutine of their own (watchAborts);
//   - descriptors 4 and 5, the call and reply pipes: a pipe makes a cheaper round trip than a
//     socket. One goroutine reads a call, runs it (call.go) and writes its reply, so a call costs
//     no hand-off between goroutines;
//   - descriptor 6, the segment shared with the parent: the call slots (slots.go) and the reply
//     ring (replies.go).
//
// A call starts only by swapping its slot from sent to running, so that the parent can take back
// a call that has not started (the worker skips it, without a reply); the slot is marked done once
// the function has returned, before the reply is written. A reply leaves the moment its function
// returns, never held back for the next call (its caller may be waiting for it before it lets the
// next call finish): it goes through the reply ring, and the reply pipe wakes the parent's reader
// only when that sleeps. End of file on the control socket or the call pipe means the parent died.
func workerMain(conn *os.File, ctl sys.FDReader, callFD, replyFD, slotsFD int, task *wire.Task, initFDs []int) {
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
	slots, err := mapSlotTable(slotsFD)
	if err != nil {
		refuse(conn, fmt.Errorf("%w: call slots: %v", ErrProtocol, err))
	}

	if task.InitFunc != "" {
		run := mustPrepare(conn, "initializer", task.InitFunc, task.InitArg, initFDs)
		_, rfds, werr := callProtected(context.Background(), run)
		closeFDs(rfds)
		if werr != nil {
			refuseWire(conn, werr)
		}
	}
	if err := wire.WriteMessage(conn, wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: os.Getpid()}); err != nil {
		bootstrap.KillSelf()
	}

	if task.InitFunc == "" {
		closeFDs(initFDs)
	}
	w := &workerState{slots: slots, fds: make(map[uint64][][]int)}
	w.fdsCond = sync.NewCond(&w.mu)
	go w.watchAborts(ctl)
	in := bufio.NewReaderSize(calls, 64<<10)
	out := &replyWriter{ring: slots.ring, pipe: replies}
	buf := make([]byte, 0, 256)
	for {
		typ, payload, err := wire.ReadFrame(in, wire.DefaultMaxFrame)
		if err != nil {
			bootstrap.KillSelf() // the parent is gone
		}
		switch typ {
		case wire.TypeCall:
			var c wire.Call
			if err := wire.Unmarshal(payload, &c); err != nil || c.Slot < 0 || c.Slot >= numSlots {
				fmt.Fprintf(os.Stderr, "mp: worker %d: bad call frame (%v); exiting\n", os.Getpid(), err)
				os.Exit(3)
			}
			reply, rfds := w.serve(&c)
			if reply == nil {
				continue // taken back by the parent
			}
			reply.FDs = len(rfds)
			if len(rfds) > 0 {
				// The result's segments go first, on the control socket (reply_fds.go).
				err := sys.WriteWithFDs(conn, wire.AppendPair(nil, wire.TypeReplyFDs, c.ID, uint64(len(rfds))), rfds)
				closeFDs(rfds)
				if err != nil {
					bootstrap.KillSelf()
				}
			}
			buf = wire.AppendFrame(buf[:0], wire.TypeReply, reply)
			if err := out.write(buf); err != nil {
				bootstrap.KillSelf()
			}
			collectAfterBulk()
		case wire.TypeRetire:
			Cleanup()
			os.Exit(0)
		default:
			fmt.Fprintf(os.Stderr, "mp: worker %d: unexpected frame type %d; exiting\n", os.Getpid(), typ)
			os.Exit(3)
		}
	}
}

type workerState struct {
	slots   *slotTable
	mu      sync.Mutex
	running uint64             // the ID of the call running now, 0 between calls
	cancel  context.CancelFunc // cancels the running call
	fds     map[uint64][][]int // descriptors of calls' handles, arrived ahead of the calls, in order
	// (a call taken back and sent here again has two sets: its stale frame takes the first)
	fdsCond *sync.Cond // signalled when descriptors arrive
}

// takeFDs waits for the descriptors of call id's handles.
func (w *workerState) takeFDs(id uint64) []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if sets := w.fds[id]; len(sets) > 0 {
			if len(sets) == 1 {
				delete(w.fds, id)
			} else {
				w.fds[id] = sets[1:]
			}
			return sets[0]
		}
		w.fdsCond.Wait()
	}
}

// watchAborts serves the control socket for the life of the worker.
func (w *workerState) watchAborts(ctl sys.FDReader) {
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
			w.fds[id] = append(w.fds[id], fds)
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
		// The parent aborts a call this way only once it has failed to take it back, that is,
		// once the call has started (or finished): serve sets running before it claims the slot.
		w.mu.Lock()
		if id == w.running {
			w.cancel()
		}
		w.mu.Unlock()
	}
}

// serve runs one call and returns its reply, with the descriptors of its result's shared memory
// segments (bulk.go), or nil when the parent took the call back before it started.
func (w *workerState) serve(c *wire.Call) (*wire.Reply, []int) {
	var fds []int
	if c.FDs > 0 {
		fds = w.takeFDs(c.ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.mu.Lock()
	w.running, w.cancel = c.ID, cancel
	w.mu.Unlock()
	slot := &w.slots.words[c.Slot]
	if !slot.CompareAndSwap(slotWord(c.ID, slotSent), slotWord(c.ID, slotRunning)) {
		w.mu.Lock()
		w.running, w.cancel = 0, nil
		w.mu.Unlock()
		closeFDs(fds)
		return nil, nil
	}

	reply := &wire.Reply{ID: c.ID}
	var rfds []int
	e, ok := lookup(c.Func)
	switch {
	case !ok:
		closeFDs(fds)
		reply.Err = toWire(fmt.Errorf("%w: function %q is not registered in the worker", ErrNotRegistered, c.Func))
	case c.Chunk > 0:
		reply.Value, rfds, reply.Done, reply.Err = e.runChunk(ctx, c.Arg, fds, c.Chunk, time.Duration(c.Timeout), true)
	default:
		reply.Value, rfds, reply.Err = e.runOneShared(ctx, c.Arg, fds, time.Duration(c.Timeout))
		if reply.Err == nil {
			reply.Done = 1
		}
	}
	slot.Store(slotWord(c.ID, slotDone))

	w.mu.Lock()
	w.running, w.cancel = 0, nil
	w.mu.Unlock()
	return reply, rfds
}
