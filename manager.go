package mp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mp-go/mp/internal/wire"
)

// Manager is a server process that holds objects — Dict, List, Namespace, ManagedValue — on
// behalf of other processes, which use them through proxies: Python's multiprocessing.Manager().
// Start one with StartManager; create objects with NewDict, NewList, NewNamespace and
// NewManagedValue; hand the proxies to children in task arguments (or over a Conn, or on a
// Queue: a proxy is data, the manager's address and secret token and the object's id, and
// carries no descriptor). Every process opens one connection to the manager, on first use,
// shared by all its proxies. A type of the program's own can live there too, with the methods
// it exposes: see RegisterManagedType, Expose and NewManagedObject.
//
// Every operation on a managed object is atomic; Update and Add make read-modify-write atomic
// too, which Python's d[k] += 1 is not. On Linux a Dict lives in shared memory that the manager
// gives, once, to every process on the machine that uses the dict: its operations run in the
// caller, under the dict's robust lock, with no round trip (see Dict). Every other operation is
// one request to the server, where it runs.
//
// Objects live while a proxy holds them or another managed object stores them: the server
// counts, per connection, the objects that connection's proxies hold, so a process that exits or
// is killed lets go of all of them. A proxy's Close lets go at once; a proxy dropped without
// Close is let go of when the garbage collector finds it. A process that receives a proxy
// takes hold of its object with its first call: until then the object lives by the sender's
// hold, so a sender keeps its proxy open until the receiver has used it (as a parent that waits
// for its children does). A proxy stored in a managed object has no such gap.
//
// A Manager is safe for concurrent use. It is owned by the process that started it: it cannot
// be passed to another process (pass the proxies). The server dies with its owner, as every
// child does. Transport: a Unix stream socket (Linux: the abstract namespace; macOS: a socket
// file in a private directory), open only to this user's processes that know the token. Cost: a
// call is one round trip on that socket, about 15 to 25 µs; a Dict operation on Linux, about
// 0.5 µs (see the package's benchmarks: BenchmarkManagerDict, and bench/compare's
// manager_dict_ops).
//
// The program that started a manager can also serve it to other programs, on this machine or
// others, over TCP or a Unix socket, with an auth key and TLS: see Serve, Publish,
// ConnectManager and Lookup (Python's BaseManager(address, authkey) with serve_forever and
// connect). A Manager that ConnectManager returned is such a program's connection to it.
type Manager struct {
	proc    *Process
	addr    string
	c       *managerClient
	cleanup func()
	// inServer: the manager process's Manager of itself, given to managed types' constructors
	// (manager_object_server.go); Close and Shutdown do nothing to it.
	inServer bool

	mu     sync.Mutex
	closed bool
}

// ManagerOption configures StartManager.
type ManagerOption interface {
	applyManager(*managerConfig) error
}

type managerConfig struct {
	initName string
	initArg  []byte
	tableMax int64 // WithDictMaxSize
}

type managerOptionFunc func(*managerConfig) error

func (f managerOptionFunc) applyManager(c *managerConfig) error { return f(c) }

// WithManagerInitializer runs f(ctx, arg) in the manager process before it serves: Python's
// Manager(initializer=, initargs=). If it fails, StartManager returns its error (keeping its
// identity, as a task's). arg may not hold handles.
func WithManagerInitializer[T, R any](f *Func[T, R], arg T) ManagerOption {
	return managerOptionFunc(func(c *managerConfig) error {
		if f == nil {
			return fmt.Errorf("%w: WithManagerInitializer with a nil *Func", ErrNotRegistered)
		}
		b, err := encodeValue("the manager initializer's argument", arg)
		if err != nil {
			return err
		}
		c.initName, c.initArg = f.name, b
		return nil
	})
}

// managerArg is the manager process's argument.
type managerArg struct {
	Listener *os.File
	Addr     string
	Token    []byte
	Init     string
	InitArg  []byte
	TableMax int64
}

var managerServe = Register("mp.manager", func(ctx context.Context, a managerArg) (struct{}, error) {
	defer a.Listener.Close()
	if a.Init != "" {
		e, ok := lookup(a.Init)
		if !ok {
			return struct{}{}, fmt.Errorf("%w: manager initializer %q", ErrNotRegistered, a.Init)
		}
		if _, werr := e.runOne(ctx, a.InitArg, nil, 0); werr != nil {
			return struct{}{}, initializerError(werr)
		}
	}
	newManagerServer(a.Token, a.Addr, a.TableMax).serve(ctx, a.Listener)
	return struct{}{}, nil
})

func initializerError(we *wire.Error) error {
	return fmt.Errorf("mp: the manager's initializer failed: %w", fromWire("manager", os.Getpid(), we))
}

// StartManager starts a manager process and returns once it serves (its initializer, if any,
// has run). ctx bounds the start only. Stop it with Shutdown or Close; it is also stopped, like
// every child, when this process exits.
func StartManager(ctx context.Context, opts ...ManagerOption) (*Manager, error) {
	var cfg managerConfig
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: a nil ManagerOption", ErrInvalidOption)
		}
		if err := o.applyManager(&cfg); err != nil {
			return nil, err
		}
	}
	token := make([]byte, managerTokenSize)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	ln, addr, cleanup, err := managerListen()
	if err != nil {
		return nil, err
	}
	p := NewProcess(managerServe, managerArg{Listener: ln, Addr: addr, Token: token, Init: cfg.initName, InitArg: cfg.initArg, TableMax: cfg.tableMax},
		WithName("mp-manager"), WithDaemon(true), WithQuietFailures())
	err = p.Start(ctx)
	ln.Close() // the server has its own copy: once it is gone, connecting fails at once
	if err != nil {
		cleanup()
		return nil, err
	}
	m := &Manager{proc: p, addr: addr, cleanup: cleanup, c: clientFor(addr, token)}
	// The first call opens this process's connection; the server answers it once it serves.
	sctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-p.Done():
			cancel()
		case <-sctx.Done():
		}
	}()
	m.c.starting = true // no other goroutine has the client yet
	_, err = m.c.call(sctx, managerOpPing, &mreq{})
	m.c.mu.Lock()
	m.c.starting = false
	m.c.mu.Unlock()
	cancel()
	if err != nil {
		if errors.Is(err, ErrManagerDead) {
			// The server went away before it served: its own error (the initializer's) says why,
			// once the process has been reaped.
			select {
			case <-p.Done():
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
		select {
		case <-p.Done():
			if werr := p.Wait(context.Background()); werr != nil {
				err = werr
			}
		default:
		}
		m.Close()
		return nil, err
	}
	return m, nil
}

// Pid returns the manager process's pid (0 for a nil or zero Manager, and for one connected
// with ConnectManager).
func (m *Manager) Pid() int {
	if m == nil || m.proc == nil {
		return 0
	}
	return m.proc.Pid()
}

// String describes the manager: "mp.Manager(pid 123)", "mp.Manager(tcp 127.0.0.1:5000)" for
// one connected with ConnectManager, or "mp.Manager(nil)".
func (m *Manager) String() string {
	if m != nil && m.proc == nil && m.c != nil {
		return "mp.Manager(" + strings.TrimPrefix(m.c.addr, remoteManagerPrefix) + ")"
	}
	if m == nil || m.proc == nil {
		return "mp.Manager(nil)"
	}
	return fmt.Sprintf("mp.Manager(pid %d)", m.Pid())
}

// ManagerStats describes a manager's state.
type ManagerStats struct {
	Objects     int // managed objects alive
	Connections int // client connections open, one per process using the manager
	// Ops is the number of operations on the manager's objects since it started, by every
	// client: the calls it served (but Stats and pings) and the operations of a Dict that
	// clients ran on its shared table without the manager (see Dict). It only grows: two looks
	// a second apart give the manager's rate. A manager of an older version reports 0.
	Ops uint64
}

// Stats asks the manager how many objects it holds, how many connections it serves, and how
// many operations it and its clients have run.
func (m *Manager) Stats(ctx context.Context) (ManagerStats, error) {
	if err := m.check(); err != nil {
		return ManagerStats{}, err
	}
	rep, err := m.c.call(ctx, managerOpStats, &mreq{})
	st := ManagerStats{Objects: int(rep.N), Connections: int(rep.Rev)}
	if len(rep.Revs) > 0 {
		st.Ops = rep.Revs[0]
	}
	return st, err
}

func (m *Manager) check() error {
	if m == nil || m.c == nil {
		return fmt.Errorf("%w: use of a nil or zero mp.Manager (start one with mp.StartManager)", ErrClosed)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("%w: use of an mp.Manager after Shutdown or Close", ErrClosed)
	}
	return nil
}

// Shutdown stops the manager gracefully: the calls it is running complete, then every process's
// connection is told that the manager is closing (their later calls fail with ErrClosed), and
// the process exits. If ctx ends first, the manager is killed, as by Close, and Shutdown returns
// ctx's error. After Shutdown, calls through this process's proxies fail with ErrClosed.
//
// On a Manager connected with ConnectManager, Shutdown is an ErrInvalidOption error (only the
// program that started a manager stops it): Close the connection instead.
func (m *Manager) Shutdown(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.inServer {
		return fmt.Errorf("%w: Shutdown of the manager from inside it (a managed type's constructor or method): the program that started it shuts it down", ErrInvalidOption)
	}
	if m.proc == nil {
		return fmt.Errorf("%w: Shutdown of a manager connected with mp.ConnectManager (%v): only the program that started it shuts it down; Close closes this connection", ErrInvalidOption, m)
	}
	_, err := m.c.call(ctx, managerOpShutdown, &mreq{})
	if err == nil {
		err = m.proc.Wait(ctx)
	}
	m.Close()
	return err
}

// Close stops the manager at once: the process is killed and reaped, and every proxy of it, in
// this process, fails with ErrClosed from then on (in other processes, with ErrManagerDead).
// Close is idempotent and does nothing on a nil Manager.
//
// On a Manager connected with ConnectManager, Close closes the connection: the manager lets go
// of what this connection held, and goes on serving the others; calls through the proxies
// obtained on it fail with ErrClosed.
func (m *Manager) Close() error {
	if m == nil || m.c == nil || m.inServer {
		return nil
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.c.fail(fmt.Errorf("%w: the manager was closed", ErrClosed))
	forgetClient(m.c)
	if m.proc == nil { // connected with ConnectManager
		return nil
	}
	m.proc.Kill()
	<-m.proc.Done()
	m.cleanup()
	return nil
}

// MarshalCBOR refuses to encode the Manager: it stays with the process that started it. Pass
// its proxies to other processes instead.
func (m *Manager) MarshalCBOR() ([]byte, error) {
	return nil, fmt.Errorf("%w: an *mp.Manager cannot be passed to another process (it is owned by the one that started it); pass its proxies (*mp.Dict, *mp.List, ...), which connect to it", ErrEncode)
}
