package mp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// Process is a child process running one registered function: Python's multiprocessing.Process,
// modelled on os/exec.Cmd. NewProcess returns it unstarted; Start runs it; Wait, Done, Alive and
// ExitCode observe it; Terminate, Kill and Signal end it.
//
// The child is this program's own binary, executed again: it runs package initialisation, then
// mp.Init (the first statement of main) receives the function's name and argument over a control
// socket, runs it, reports the result and exits. Every child is reaped by a goroutine of this
// package as soon as it ends, so a child never lingers as a zombie even if Wait is never called;
// and every child dies when this process dies, however it dies (see Init).
//
// A Process is safe for concurrent use. It cannot be passed to another process. Starting one
// costs an exec of the binary and the Go runtime's start-up: about 1.5 ms on a small binary, and a
// couple of MiB of memory for an idle child.
type Process struct {
	fname     string
	encArg    func() ([]byte, []int, error)
	buildErr  error // an error found by the constructor, reported by Start
	name      string
	ident     string
	daemon    bool
	stdout    io.Writer
	stderr    io.Writer
	stdoutSet bool
	stderrSet bool
	env       []string
	// cancelGrace is how long Run lets the function take to return once its ctx is cancelled.
	cancelGrace time.Duration
	quiet       bool // WithQuietFailures: an unobserved failure is not reported

	mu      sync.Mutex
	started bool
	cmd     *exec.Cmd
	pid     atomic.Int64
	// signalled is set before this process sends the child a signal: an exit caused by it is
	// not reported as an unobserved failure.
	signalled atomic.Bool

	// wmu serialises writes to the control socket: the task, then perhaps a cancel.
	wmu  sync.Mutex
	conn *os.File // the parent's end of the control socket, set once the child has started

	ready    chan struct{} // closed when the child's Ready frame arrived
	readyErr error         // the child's refusal, set before ready is closed
	done     chan struct{} // closed when the child has been reaped

	// wantResult is set by Run before Start: the result's segments (resultFDs) are kept for it.
	wantResult bool

	// Set before done is closed, read only after.
	err       error
	result    []byte
	resultFDs []int // the descriptors of the result's big values (bulk.go), for Run to take
	hasResult bool
	failure   *failure // the record of an unobserved failure, or nil (see failures.go)
	exitCode  atomic.Int64
}

// procCounter numbers the processes this process creates, as Python's _process_counter does.
var procCounter atomic.Int64

// NewProcess returns an unstarted process that will run f(ctx, arg) in a child. arg is encoded
// when Start is called. Options that are invalid are reported by Start.
func NewProcess[T, R any](f *Func[T, R], arg T, opts ...ProcessOption) *Process {
	p := newProcess(opts)
	if f == nil {
		p.buildErr = fmt.Errorf("%w: NewProcess with a nil *Func", ErrNotRegistered)
		return p
	}
	p.fname = f.name
	p.encArg = func() ([]byte, []int, error) { return encodeArg("argument of "+f.name, arg) }
	return p
}

// NewRunnerProcess returns an unstarted process that will run r.Run in a child, after r's
// exported fields have been copied there: Python's Process subclass style. r's type must have been
// registered with RegisterRunner.
func NewRunnerProcess(r Runner, opts ...ProcessOption) *Process {
	p := newProcess(opts)
	t := reflect.TypeOf(r)
	registry.RLock()
	name, ok := registry.byType[t]
	registry.RUnlock()
	if !ok {
		p.buildErr = fmt.Errorf("%w: runner type %v; register it with mp.RegisterRunner[%v](name) at package level", ErrNotRegistered, t, t)
		return p
	}
	p.fname = name
	p.encArg = func() ([]byte, []int, error) { return encodeArg("runner", r) }
	return p
}

func newProcess(opts []ProcessOption) *Process {
	n := procCounter.Add(1)
	ident := strconv.FormatInt(n, 10)
	if cur := currentInfo(); cur.ident != "" {
		ident = cur.ident + ":" + ident
	}
	p := &Process{
		ident:       ident,
		name:        "Process-" + ident,
		cancelGrace: defaultCancelGrace,
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
	}
	p.exitCode.Store(-1)
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyProcess(p); err != nil && p.buildErr == nil {
			p.buildErr = err
		}
	}
	return p
}

// Name returns the process name: the one given with WithName, or "Process-N".
func (p *Process) Name() string { return p.name }

// Daemon reports whether the process was created WithDaemon(true).
func (p *Process) Daemon() bool { return p.daemon }

// Pid returns the child's process ID, or 0 before Start.
func (p *Process) Pid() int { return int(p.pid.Load()) }

// String describes the process as Python's repr does, for logs: name, pid and state.
func (p *Process) String() string {
	state := "initial"
	switch code := int(p.exitCode.Load()); {
	case code != -1:
		state = "stopped exitcode=" + strconv.Itoa(code)
	case p.Alive():
		state = "started"
	}
	if p.daemon {
		state += " daemon"
	}
	return fmt.Sprintf("<Process name=%q pid=%d %s>", p.name, p.Pid(), state)
}

// Start starts the child and waits until it has confirmed, in a handshake, that it can run the
// function: it has found the function by name and decoded the argument. ctx bounds the start
// only: if it ends before the handshake, the child is killed and Start returns ctx.Err(); once
// Start has returned, ctx has no further effect. After a successful Start, the child runs until
// its function returns or it is ended with Terminate, Kill or Signal; call Wait to learn how it
// ended.
//
// Start fails with ErrAlreadyStarted on a second call, ErrNotRegistered for a nil or unknown
// function, ErrEncode (naming the type) for an argument the codec cannot carry, ErrDaemonChildren
// in a daemon process, ErrInvalidOption for a bad option, and ErrHandshake when the child ended
// before the handshake. After a failed Start the process is done: Wait returns the same error.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrAlreadyStarted, p.name)
	}
	p.started = true
	p.mu.Unlock()

	if err := p.start(ctx); err != nil {
		p.failStart(err)
		return err
	}
	select {
	case <-p.ready:
		if p.readyErr != nil {
			<-p.done
			p.observe()
			return p.readyErr
		}
		return nil
	case <-p.done:
		select {
		case <-p.ready:
			if p.readyErr == nil {
				return nil // it ran and ended already: Wait tells how
			}
			p.observe()
			return p.readyErr
		default:
		}
		p.observe()
		return p.err
	case <-ctx.Done():
		p.Kill()
		<-p.done
		select {
		case <-p.ready:
			if p.readyErr == nil {
				return nil // the handshake won the race; the process ran and was killed
			}
		default:
		}
		p.observe()
		return ctx.Err()
	}
}

// failStart ends a process whose start failed before a child existed.
func (p *Process) failStart(err error) {
	p.err = err
	close(p.done)
}

func (p *Process) start(ctx context.Context) error {
	guardChild()
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.buildErr != nil {
		return p.buildErr
	}
	if currentInfo().Daemon {
		return fmt.Errorf("%w (starting %s from daemon %s)", ErrDaemonChildren, p.name, currentInfo().Name)
	}
	if _, ok := lookup(p.fname); !ok {
		return fmt.Errorf("%w: %q", ErrNotRegistered, p.fname)
	}
	arg, fds, err := p.encArg()
	if err != nil {
		return err
	}
	cur := currentInfo()
	task, err := wire.Marshal(&wire.Task{
		Version:    wire.Version,
		Func:       p.fname,
		Arg:        arg,
		Name:       p.name,
		Ident:      p.ident,
		Daemon:     p.daemon,
		ParentName: cur.Name,
		ParentPid:  cur.Pid,
	})
	if err != nil {
		closeFDs(fds)
		return fmt.Errorf("%w: task for %s: %v", ErrEncode, p.name, err)
	}
	return p.spawn(task, fds)
}

// spawn starts the child process and the goroutine that owns it, which sends the task with fds,
// the descriptors of the argument's handles, and closes them.
func (p *Process) spawn(task []byte, fds []int) error {
	cmd, conn, err := startChild(childSpec{
		name: p.name, env: p.env,
		stdout: p.stdout, stdoutSet: p.stdoutSet,
		stderr: p.stderr, stderrSet: p.stderrSet,
	})
	if err != nil {
		closeFDs(fds)
		return err
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	p.wmu.Lock()
	p.conn = conn
	p.wmu.Unlock()
	p.pid.Store(int64(cmd.Process.Pid))
	addActive(p)
	go p.own(conn, task, fds)
	return nil
}

// own is the one owner of the child: it sends the task, reads the child's frames until the
// control socket closes (the child exited), reaps it, and records how it ended.
func (p *Process) own(conn *os.File, task []byte, fds []int) {
	var protoErr error
	p.wmu.Lock()
	err := wire.WriteFrame(fdWriter{conn, fds}, wire.TypeTask, task)
	p.wmu.Unlock()
	closeFDs(fds)
	if err == nil {
		protoErr = p.readFrames(conn)
	}
	if protoErr != nil || !p.wantResult {
		closeFDs(p.resultFDs)
		p.resultFDs = nil
	}
	if protoErr != nil {
		p.cmd.Process.Kill()
	}
	waitErr := p.cmd.Wait()
	st := p.cmd.ProcessState
	conn.Close()
	bootstrap.Reaped()

	readyOK := false
	select {
	case <-p.ready:
		readyOK = p.readyErr == nil
	default:
	}
	var exitErr error
	if st != nil && !st.Success() {
		exitErr = &ExitError{Name: p.name, Pid: p.Pid(), ProcessState: st}
	}
	switch {
	case protoErr != nil:
		p.err = fmt.Errorf("%w: %s (pid %d): %v", ErrProtocol, p.name, p.Pid(), protoErr)
	case p.readyErr != nil:
		p.err = p.readyErr
	case !readyOK:
		if exitErr == nil {
			exitErr = fmt.Errorf("mp: process %s (pid %d) exited with status 0", p.name, p.Pid())
		}
		p.err = fmt.Errorf("%w: %w; is mp.Init() the first statement of main?", ErrHandshake, exitErr)
	case p.hasResult && p.err != nil:
		// the function's error, set by readFrames
	case p.hasResult:
	case exitErr != nil:
		p.err = exitErr
	case st == nil:
		p.err = fmt.Errorf("mp: waiting for %s (pid %d): %w", p.name, p.Pid(), waitErr)
	}
	if st != nil {
		p.exitCode.Store(int64(exitCode(st)))
	}
	p.recordFailure()
	removeActive(p)
	close(p.done)
}

// readFrames reads the child's frames until end of file. It returns an error only for a frame
// that breaks the protocol.
func (p *Process) readFrames(conn *os.File) error {
	var in io.Reader = conn
	ctl, err := sys.NewFDReader(conn)
	if err == nil {
		// The descriptors of a result's big values arrive with a TypeReplyFDs frame.
		in = bufio.NewReaderSize(ctl, 64<<10)
		defer func() { closeFDs(ctl.TakeAll()) }()
	}
	for {
		typ, payload, err := wire.ReadFrame(in, wire.DefaultMaxFrame)
		if err != nil {
			if errors.Is(err, wire.ErrFrameTooLarge) {
				return err
			}
			return nil // end of file, or a frame cut short by the child's death
		}
		switch typ {
		case wire.TypeReplyFDs:
			id, n, err := wire.ParsePair(payload)
			if err != nil || id != 0 || n == 0 || n > sys.MaxFDs || ctl == nil || p.resultFDs != nil || p.hasResult {
				return fmt.Errorf("bad result descriptors frame (%d descriptors)", n)
			}
			if p.resultFDs, err = ctl.Take(int(n)); err != nil {
				return fmt.Errorf("result descriptors: %v", err)
			}
		case wire.TypeReady:
			var r wire.Ready
			if err := wire.Unmarshal(payload, &r); err != nil {
				return fmt.Errorf("bad ready frame: %v", err)
			}
			if isReady(p) {
				return errors.New("second ready frame")
			}
			if r.Err != nil {
				p.readyErr = fromWire(p.name, p.Pid(), r.Err)
			} else if r.Version != wire.Version {
				p.readyErr = fmt.Errorf("%w: child speaks protocol version %d, parent %d", ErrProtocol, r.Version, wire.Version)
			}
			close(p.ready)
		case wire.TypeResult:
			var r wire.Result
			if err := wire.Unmarshal(payload, &r); err != nil {
				return fmt.Errorf("bad result frame: %v", err)
			}
			if !isReady(p) || p.hasResult {
				return errors.New("result frame out of order")
			}
			p.hasResult = true
			if r.FDs != len(p.resultFDs) {
				return fmt.Errorf("a result with %d descriptors, %d received", r.FDs, len(p.resultFDs))
			}
			if r.Err != nil {
				p.err = fromWire(p.name, p.Pid(), r.Err)
			} else {
				p.result = r.Value
			}
		default:
			return fmt.Errorf("unknown frame type %d", typ)
		}
	}
}

func isReady(p *Process) bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

// Wait waits for the process to end and returns how it ended: nil when the function returned
// nil; a *ProcessError carrying the function's error (errors.Is matches the registered sentinels
// the error matched in the child); a *PanicError when it panicked; an *ExitError when the child
// called os.Exit with a non-zero code or was killed by a signal. A child that called os.Exit(0)
// counts as a success. ctx bounds the waiting only: when it ends first, Wait returns ctx.Err() and
// the process goes on. Wait may be called any number of times, from any goroutine; it returns
// ErrNotStarted before Start.
func (p *Process) Wait(ctx context.Context) error {
	if !p.isStarted() {
		return fmt.Errorf("%w: %s", ErrNotStarted, p.name)
	}
	select {
	case <-p.done: // an ended process wins over an ended ctx
		p.observe()
		return p.err
	default:
	}
	select {
	case <-p.done:
		p.observe()
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done returns a channel that is closed once the process has ended and been reaped (or its Start
// failed): the sentinel of Python's multiprocessing.connection.wait. Before Start it is never
// closed.
func (p *Process) Done() <-chan struct{} { return p.done }

// Alive reports whether the process has been started and has not yet been reaped. Right after
// Terminate or Kill it may still be true for a moment; after Wait has returned it is false.
func (p *Process) Alive() bool {
	if p.Pid() == 0 {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitCode returns the exit code in Python's convention: 0 when the function returned nil, 1 when
// it returned an error or panicked, n when the child called os.Exit(n), minus the signal number
// when a signal killed it, and -1 before it has ended (or when it never started).
//
// Reading the exit code of a process that has ended counts as observing how it ended, as Wait
// does: a failure is then not reported as unobserved (see WithQuietFailures).
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		p.observe()
	default:
	}
	return int(p.exitCode.Load())
}

// Terminate asks the process to end with SIGTERM, as Python's terminate. It does not wait: follow
// it with Wait. It is a no-op on a process that has ended.
func (p *Process) Terminate() error { return p.Signal(sys.SigTerm) }

// Kill ends the process with SIGKILL, as Python's kill. It does not wait: follow it with Wait. It
// is a no-op on a process that has ended.
func (p *Process) Kill() error { return p.Signal(os.Kill) }

// Signal sends sig to the process. It returns ErrNotStarted before Start, and nil (doing nothing)
// once the process has ended; the kernel's process file descriptor makes it immune to pid reuse.
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	started := p.started
	p.mu.Unlock()
	if !started {
		return fmt.Errorf("%w: %s", ErrNotStarted, p.name)
	}
	if cmd == nil || !p.Alive() {
		return nil
	}
	p.signalled.Store(true)
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("mp: signalling %s (pid %d): %w", p.name, p.Pid(), err)
	}
	return nil
}

func (p *Process) isStarted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// cancel ends a started process gracefully: it asks the child to cancel its function's ctx, waits
// up to the cancel grace for the child to end, kills it if it has not, and returns once it has
// been reaped.
func (p *Process) cancel() {
	if p.cancelGrace > 0 && p.sendCancel() == nil {
		t := time.NewTimer(p.cancelGrace)
		defer t.Stop()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
	p.Kill()
	<-p.done
}

// sendCancel sends the child a Cancel frame: its watchParent cancels the function's ctx.
func (p *Process) sendCancel() error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.conn == nil {
		return ErrNotStarted
	}
	return wire.WriteFrame(p.conn, wire.TypeCancel, nil)
}

// Run runs f(ctx, arg) in a fresh child process and returns its result. When ctx ends first, the
// function's own ctx in the child is cancelled; the child is killed if it has not ended within
// the cancel grace (WithCancelGrace, 250 ms by default), and Run returns ctx.Err() once the child
// has ended either way. Errors are those of Start and Wait; a child that exits with status 0
// without returning (os.Exit(0) in the function) is ErrNoResult.
func Run[T, R any](ctx context.Context, f *Func[T, R], arg T, opts ...ProcessOption) (R, error) {
	var zero R
	p := NewProcess(f, arg, opts...)
	p.wantResult = true
	if err := p.Start(ctx); err != nil {
		return zero, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		p.observe()
		closeFDs(p.resultFDs) // cancel waited for the child: resultFDs is settled
		p.resultFDs = nil
		return zero, ctx.Err()
	}
	p.observe()
	fds := p.resultFDs
	p.resultFDs = nil
	if p.err != nil {
		closeFDs(fds)
		return zero, p.err
	}
	if !p.hasResult {
		closeFDs(fds)
		return zero, fmt.Errorf("%w: %s (pid %d)", ErrNoResult, p.name, p.Pid())
	}
	var r R
	if err := decodeResult("result of "+f.name, p.result, fds, &r); err != nil {
		return zero, err
	}
	return r, nil
}
