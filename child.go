package mp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/sys"
	"github.com/mp-go/mp/internal/wire"
)

// Init must be the first statement of main, and of TestMain in tests that start processes. Main
// calls it for you, and Cleanup, and is the simplest main; Init and Cleanup are for programs that
// arrange their exit themselves:
//
//	func main() {
//		mp.Init()
//		defer mp.Cleanup()
//		...
//	}
//
// In the program's own process Init returns at once. In a child started by this package it never
// returns: it receives the function to run over the control socket its parent handed down, runs
// it, reports the result or error, terminates its daemon children and waits for the others (as
// Cleanup does), and exits — 0 on success, 1 when the function returned an error or panicked.
// Package initialisation (package-level variables and init functions) runs in every child before
// Init, so keep it light.
//
// A child dies with its parent however the parent ends — return from main, os.Exit, a panic,
// SIGKILL. On Linux the kernel sends it SIGKILL when the parent dies (the parent-death signal is
// set from a thread that outlives the child); everywhere the child also kills itself when its
// control socket reports that the parent has gone.
//
// Calling Init more than once is harmless. Registering functions after Init panics.
func Init() {
	if !initStarted.CompareAndSwap(false, true) {
		return
	}
	version, fds, ok, err := bootstrap.TakeMarker()
	if !ok {
		return
	}
	childMain(version, fds, err)
}

// noInitTimeout is how long a child may spend before reaching Init; MP_INIT_TIMEOUT overrides it
// (a Go duration), for tests.
const noInitTimeout = 10 * time.Second

func init() {
	if !bootstrap.Marked() {
		return
	}
	d := noInitTimeout
	if s := os.Getenv("MP_INIT_TIMEOUT"); s != "" {
		if v, err := time.ParseDuration(s); err == nil {
			d = v
		}
	}
	// A child whose main never calls Init would run the program's main as if it were the parent.
	// If it does not reach Init in time, fail loudly rather than let it run on.
	time.AfterFunc(d, func() {
		if !initStarted.Load() {
			failNoInit(fmt.Sprintf("mp.Init was not called within %v of the child's start", d))
		}
	})
}

// guardChild stops a child that reached mp code without calling Init: it would otherwise act as
// a parent, start children of its own, and so on without end.
func guardChild() {
	if bootstrap.Marked() && !initStarted.Load() {
		failNoInit("the child reached mp code, and its main had not called mp.Init")
	}
}

var failOnce sync.Once

// failNoInit reports ErrNoInit to the parent and on standard error, and exits with status 2.
func failNoInit(why string) {
	failOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "mp: FATAL: this process (pid %d) was started by mp as a child, but %s.\n"+
			"mp: call mp.Init() as the first statement of main (and of TestMain); this child exits now and starts nothing.\n", os.Getpid(), why)
		_, fds, ok, err := bootstrap.TakeMarker()
		if ok && err == nil {
			f := os.NewFile(uintptr(fds[0]), "mp-control")
			wire.WriteMessage(f, wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: os.Getpid(), Err: toWire(ErrNoInit)})
		}
		os.Exit(2)
	})
	select {}
}

// childMain is Init in a child. It never returns.
func childMain(version int, fds []int, markerErr error) {
	if markerErr != nil || version != wire.Version {
		fmt.Fprintf(os.Stderr, "mp: FATAL: bad child marker (version %d, error %v)\n", version, markerErr)
		os.Exit(2)
	}
	bootstrap.CloseInherited(fds)
	bootstrap.SetProcessName(filepath.Base(os.Args[0]))
	conn, err := bootstrap.ControlFile(fds[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mp: FATAL: control socket: %v\n", err)
		os.Exit(2)
	}
	ctl, err := sys.NewFDReader(conn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mp: FATAL: control socket: %v\n", err)
		os.Exit(2)
	}
	typ, payload, err := wire.ReadFrame(ctl, wire.DefaultMaxFrame)
	if err != nil || typ != wire.TypeTask {
		bootstrap.KillSelf() // the parent died before sending the task
	}
	// The descriptors of the handles in the argument, then those in the initializer's argument.
	taskFDs := ctl.TakeAll()
	var task wire.Task
	if err := wire.Unmarshal(payload, &task); err != nil {
		refuse(conn, fmt.Errorf("%w: task frame: %v", ErrProtocol, err))
	}
	ppid := os.Getppid()
	current.Store(&ProcessInfo{Name: task.Name, Pid: os.Getpid(), Daemon: task.Daemon, ParentPid: ppid, ident: task.Ident})
	parent.Store(&ProcessInfo{Name: task.ParentName, Pid: task.ParentPid})
	if task.Version != wire.Version {
		refuse(conn, fmt.Errorf("%w: parent speaks protocol version %d, child %d", ErrProtocol, task.Version, wire.Version))
	}
	if task.Worker {
		if len(fds) < 4 {
			refuse(conn, fmt.Errorf("%w: a worker needs its call and reply pipes and its call slots", ErrProtocol))
		}
		workerMain(conn, ctl, fds[1], fds[2], fds[3], &task, taskFDs)
	}
	run := mustPrepare(conn, "function", task.Func, task.Arg, taskFDs)

	var wmu sync.Mutex
	send := func(typ byte, v wire.Message) {
		wmu.Lock()
		defer wmu.Unlock()
		if err := wire.WriteMessage(conn, typ, v); err != nil {
			bootstrap.KillSelf() // the parent is gone
		}
	}
	send(wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: os.Getpid()})

	ctx, cancel := context.WithCancel(context.Background())
	go watchParent(conn, cancel)

	res := &wire.Result{}
	var rfds []int
	res.Value, rfds, res.Err = callProtected(ctx, run)
	if len(rfds) > 0 {
		// The result's segments go first, as a worker's do (reply_fds.go).
		res.FDs = len(rfds)
		wmu.Lock()
		err := sys.WriteWithFDs(conn, wire.AppendPair(nil, wire.TypeReplyFDs, 0, uint64(len(rfds))), rfds)
		wmu.Unlock()
		closeFDs(rfds)
		if err != nil {
			bootstrap.KillSelf()
		}
	}
	send(wire.TypeResult, res)
	Cleanup()
	if res.Err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// mustPrepare finds the registered function name and decodes its argument, or refuses the
// handshake with the reason. what says what the function is for ("function", "initializer").
// It owns fds, the descriptors of the argument's handles.
func mustPrepare(conn *os.File, what, name string, arg []byte, fds []int) func(context.Context) ([]byte, []int, error) {
	e, ok := lookup(name)
	if !ok {
		closeFDs(fds)
		refuse(conn, fmt.Errorf("%w: %s %q is not registered in the child; register it at package level, unconditionally", ErrNotRegistered, what, name))
	}
	run, err := e.prepare(arg, fds)
	if err != nil {
		refuse(conn, err)
	}
	return run
}

// refuse answers the handshake with err and exits.
func refuse(conn *os.File, err error) { refuseWire(conn, toWire(err)) }

// refuseWire answers the handshake with an error already flattened for the wire, and exits.
func refuseWire(conn *os.File, werr *wire.Error) {
	wire.WriteMessage(conn, wire.TypeReady, &wire.Ready{Version: wire.Version, Pid: os.Getpid(), Err: werr})
	os.Exit(2)
}

// watchParent reads the control socket for the life of the child: a Cancel frame cancels the
// function's context; end of file means the parent has died, and the child follows it.
func watchParent(conn *os.File, cancel context.CancelFunc) {
	for {
		typ, _, err := wire.ReadFrame(conn, 1<<20)
		if err != nil {
			bootstrap.KillSelf()
		}
		if typ == wire.TypeCancel {
			cancel()
		}
	}
}
