//go:build unix

package mp

import (
	"bufio"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// fakeWorkers is a startWorkerFunc whose worker "processes" are goroutines of the test: each
// speaks the worker's side of the protocol over the pipes, control socket and shared slots the
// pool made for it, with the child's own code where it can be used in-process (workerState.serve
// runs the calls and moves their slots; replyWriter writes the replies). A fake process dies when
// the pool (or the test) kills it, when the function it runs calls runtime.Goexit (a crash in the
// middle of a task), or when dropReply says so (a crash after the function returned, before its
// reply was written); it exits cleanly on Retire. Its death closes its ends of the pipes and the
// socket, as the kernel would, and wait reports it.
//
// Use it with withFakeWorkers.
type fakeWorkers struct {
	t *testing.T

	// Set before the pool starts; called on the spawning goroutine with the fake's number (1, 2,
	// …, in start order).
	startErr  func(n int) error       // non-nil: the start fails, as an exec that fails would
	refuse    func(n int) error       // non-nil: the worker refuses its handshake with this
	dropReply func(c *wire.Call) bool // the fake dies after running c, before replying

	mu    sync.Mutex
	n     int         // starts asked for, failed ones included
	procs []*fakeProc // started, in order
}

// withFakeWorkers makes the pool start fake workers (see fakeWorkers).
func withFakeWorkers(f *fakeWorkers) PoolOption {
	return poolOptionFunc(func(c *poolConfig) error {
		c.startWorker = f.start
		return nil
	})
}

// starts returns how many starts the pool has asked for.
func (f *fakeWorkers) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// proc returns the n-th fake started (1-based), or nil.
func (f *fakeWorkers) proc(n int) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.procs {
		if p.n == n {
			return p
		}
	}
	return nil
}

const fakePidBase = 1 << 30 // far from any real pid, so that nothing signals a process by it

func (f *fakeWorkers) start(spec childSpec) (workerProc, *os.File, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if f.startErr != nil {
		if err := f.startErr(n); err != nil {
			return nil, nil, err
		}
	}
	if len(spec.extra) != 3 {
		f.t.Errorf("fake worker %d: %d extra files; want the call pipe, the reply pipe and the slots", n, len(spec.extra))
		return nil, nil, errors.New("fake: bad spec")
	}
	parentEnd, childEnd, err := controlPair()
	if err != nil {
		return nil, nil, err
	}
	// The pool closes its copies of the child's files once the start returns, as a real child
	// has inherited them by then: the fake keeps duplicates.
	fp := &fakeProc{env: f, n: n, exited: make(chan struct{}), ready: make(chan struct{}), ws: &workerState{fds: map[uint64][][]int{}}}
	fp.ws.fdsCond = sync.NewCond(&fp.ws.mu)
	files := make([]*os.File, 0, 3)
	for _, src := range []*os.File{childEnd, spec.extra[0], spec.extra[1]} {
		fd, err := dupFile(src)
		var file *os.File
		if err == nil {
			file, err = bootstrap.ControlFile(fd) // non-blocking, so that Close ends a pending read
		}
		if err != nil {
			for _, c := range files {
				c.Close()
			}
			parentEnd.Close()
			childEnd.Close()
			return nil, nil, err
		}
		files = append(files, file)
	}
	childEnd.Close()
	fp.conn, fp.calls, fp.replies = files[0], files[1], files[2]
	fd, err := dupFile(spec.extra[2])
	if err == nil {
		fp.slots, err = mapSlotTable(fd)
	}
	if err != nil {
		for _, c := range files {
			c.Close()
		}
		parentEnd.Close()
		return nil, nil, err
	}
	fp.ws.slots = fp.slots
	var refuse error
	if f.refuse != nil {
		refuse = f.refuse(n)
	}
	f.mu.Lock()
	f.procs = append(f.procs, fp)
	f.mu.Unlock()
	go fp.run(refuse)
	return fp, parentEnd, nil
}

// dupFile returns a close-on-exec duplicate of f's descriptor.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	cerr := rc.Control(func(fd uintptr) { nfd, err = sys.DupFD(int(fd)) })
	if cerr != nil {
		return -1, cerr
	}
	return nfd, err
}

// fakeProc is one fake worker process.
type fakeProc struct {
	env                  *fakeWorkers
	n                    int
	conn, calls, replies *os.File // the child's ends
	slots                *slotTable
	ws                   *workerState

	mu      sync.Mutex // guards dead and crashed; held while a reply is written, so none is after death
	dead    bool
	crashed bool
	exited  chan struct{} // closed at death
	ready   chan struct{} // closed once it has answered its handshake
}

func (fp *fakeProc) pid() int { return fakePidBase + fp.n }
func (fp *fakeProc) kill()    { fp.die(true) }

func (fp *fakeProc) wait() (*os.ProcessState, bool) {
	<-fp.exited
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return nil, fp.crashed
}

// die ends the process: its ends of the pipes and socket close, and wait returns. A goroutine of
// it still running a function (after a kill from outside) finds it dead before it replies.
func (fp *fakeProc) die(crashed bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.dead {
		return
	}
	fp.dead, fp.crashed = true, crashed
	fp.conn.Close()
	fp.calls.Close()
	fp.replies.Close()
	close(fp.exited)
}

// exitedCleanly reports whether the process has ended, and whether by exiting with status 0.
func (fp *fakeProc) exitedCleanly() (ended, clean bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.dead, fp.dead && !fp.crashed
}

// run is the fake's main goroutine: workerMain's loop, with a death where the real one exits.
// Its return, or a runtime.Goexit in the function it runs, is the death of the process.
func (fp *fakeProc) run(refuse error) {
	crashed := true
	defer func() {
		fp.die(crashed)
		fp.slots.seg.Close() // nothing of the fake touches the slots after this goroutine
	}()
	ctl := bufio.NewReader(fp.conn)
	typ, _, err := wire.ReadFrame(ctl, wire.DefaultMaxFrame)
	if err != nil || typ != wire.TypeTask {
		return
	}
	if refuse != nil {
		wire.WriteMessage(fp.conn, wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: fp.pid(), Err: toWire(refuse)})
		return // refuseWire exits with status 2
	}
	if wire.WriteMessage(fp.conn, wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: fp.pid()}) != nil {
		return
	}
	close(fp.ready)
	go fp.watchAborts(ctl)
	in := bufio.NewReaderSize(fp.calls, 64<<10)
	out := &replyWriter{ring: fp.slots.ring, pipe: fp.replies}
	var buf []byte
	for {
		typ, payload, err := wire.ReadFrame(in, wire.DefaultMaxFrame)
		if err != nil {
			return // the parent is gone, or this process was killed
		}
		switch typ {
		case wire.TypeCall:
			var c wire.Call
			if wire.Unmarshal(payload, &c) != nil || c.Slot < 0 || c.Slot >= numSlots || c.FDs > 0 {
				fp.env.t.Errorf("fake worker %d: bad call frame %+v", fp.n, c)
				return
			}
			reply, rfds := fp.ws.serve(&c)
			closeFDs(rfds) // the fake workers' results are small
			if reply == nil {
				continue // taken back by the parent
			}
			if fp.env.dropReply != nil && fp.env.dropReply(&c) {
				return
			}
			buf = wire.AppendFrame(buf[:0], wire.TypeReply, reply)
			fp.mu.Lock()
			if fp.dead {
				fp.mu.Unlock()
				return
			}
			err := out.write(buf)
			fp.mu.Unlock()
			if err != nil {
				return
			}
		case wire.TypeRetire:
			crashed = false
			return
		default:
			fp.env.t.Errorf("fake worker %d: unexpected frame type %d", fp.n, typ)
			return
		}
	}
}

// watchAborts is workerState.watchAborts without descriptors: an Abort cancels the running call;
// end of file on the socket means the parent is gone, and the process dies.
func (fp *fakeProc) watchAborts(ctl *bufio.Reader) {
	for {
		typ, payload, err := wire.ReadFrame(ctl, 1<<10)
		if err != nil {
			fp.die(true)
			return
		}
		if typ != wire.TypeAbort {
			continue
		}
		id, err := wire.ParseID(payload)
		if err != nil {
			continue
		}
		fp.ws.mu.Lock()
		if id == fp.ws.running {
			fp.ws.cancel()
		}
		fp.ws.mu.Unlock()
	}
}
