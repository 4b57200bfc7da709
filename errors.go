package mp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"

	"github.com/mp-go/mp/internal/wire"
)

// Sentinel errors. Each is registered under a stable code, so an error that matches one of them in
// a child matches it in the parent too (errors.Is).
var (
	// ErrNotStarted is returned by Wait, Signal, Terminate and Kill on a process that was never
	// started.
	ErrNotStarted = errors.New("mp: process not started")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("mp: process already started")
	// ErrNotRegistered reports a function that was not registered with Register, or not under the
	// same name in the child.
	ErrNotRegistered = errors.New("mp: function not registered")
	// ErrEncode reports a value the codec cannot encode; the message names its type. NewQueue,
	// NewJoinableQueue and Pipe return it for an element type whose values would not cross
	// intact (an unexported field, say), naming the field.
	ErrEncode = errors.New("mp: cannot encode")
	// ErrDecode reports a value the codec cannot decode into the expected type.
	ErrDecode = errors.New("mp: cannot decode")
	// ErrDaemonChildren is returned by Start in a daemon process: a daemon may not start children,
	// since it is terminated without waiting for them when its parent exits.
	ErrDaemonChildren = errors.New("mp: a daemon process may not start children")
	// ErrNotSupported reports a feature this platform does not have.
	ErrNotSupported = errors.New("mp: not supported on this platform")
	// ErrHandshake reports a child that ended before it reported ready: it crashed in package
	// initialisation, or its main does not call mp.Init first.
	ErrHandshake = errors.New("mp: child exited before the handshake")
	// ErrNoInit is reported by a child whose main reached mp code without calling mp.Init first.
	ErrNoInit = errors.New("mp: the child's main did not call mp.Init() as its first statement")
	// ErrNoResult reports a child that exited successfully without returning a result (it called
	// os.Exit(0) inside the function).
	ErrNoResult = errors.New("mp: child exited without a result")
	// ErrInvalidOption reports an option with a value out of its range.
	ErrInvalidOption = errors.New("mp: invalid option")
	// ErrClosed is returned by operations on a resource that has been closed.
	ErrClosed = errors.New("mp: closed")
	// ErrProtocol reports a child that broke the control protocol (a malformed or oversized frame).
	ErrProtocol = errors.New("mp: control protocol violation")
	// ErrQueueFull is returned by Queue.TryPut when the queue has no room.
	ErrQueueFull = errors.New("mp: queue full")
	// ErrQueueEmpty is returned by Queue.TryGet when the queue holds nothing.
	ErrQueueEmpty = errors.New("mp: queue empty")
	// ErrTooLarge reports a message larger than the queue or pipe can ever hold.
	ErrTooLarge = errors.New("mp: message too large")
	// ErrOwnerDead is returned by Mutex.Lock (and TryLock, and the Lock of a Value or an Array)
	// when the process that held the lock died holding it: the caller holds the lock now, and the
	// state it guards may be half updated. JoinableQueue.Join returns it when every unfinished
	// value was taken by a process that died before TaskDone. A holder is known by its pid and
	// its start time, so a dead holder whose pid was reused is still found dead.
	ErrOwnerDead = errors.New("mp: the previous owner of the mutex died holding it")
	// ErrBrokenBarrier is returned by Barrier.Wait when the barrier is broken: a party's wait was
	// cut short by its ctx, a waiting party died, or Abort or Reset was called.
	ErrBrokenBarrier = errors.New("mp: broken barrier")
	// ErrAuthentication reports a peer of Listen or Dial that failed the auth key's challenge and
	// response (a different key, or none where one was expected), or that answered with a digest
	// this side does not accept.
	ErrAuthentication = errors.New("mp: authentication failed")
)

// Errors of pool tasks.
var (
	// ErrWorkerDied is matched (errors.Is) by the error of a task whose worker died while running it:
	// an *ExitError with the worker's pid and exit status. The pool replaces the worker; other tasks
	// are not affected.
	ErrWorkerDied = errors.New("mp: pool worker died")

	// ErrBrokenPool is returned for every task of a pool that cannot keep workers alive: workers
	// failed to start (or their initializer failed) three times in a row, or died again and again
	// without finishing a task.
	ErrBrokenPool = errors.New("mp: pool is broken")

	// ErrResultLost is matched by the error of a task whose function returned in its worker, but whose
	// worker died before the result reached the pool: the work was done (and is not run again), its
	// result is gone. It is rare — the worker must die in the moment between the function's return and
	// the write of its reply — and it does not match ErrWorkerDied, so that code that retries on a
	// worker's death never runs such a task twice.
	ErrResultLost = errors.New("mp: the task ran, but its worker died before its result was sent")
)

// Errors of managers.
var (
	// ErrManagerDead is matched by the error of every call through a proxy whose manager process
	// died (or became unreachable): the calls waiting and every later one fail with it at once.
	// A manager shut down by its owner gives ErrClosed instead.
	ErrManagerDead = errors.New("mp: the manager process is gone")
	// ErrOutOfRange is matched by the error of a managed List's Index, SetIndex or Pop given an
	// index outside the list (Go would panic, Python raises IndexError).
	ErrOutOfRange = errors.New("mp: index out of range")
	// ErrNotHeld is matched by the error of releasing what is not held: the Unlock of a managed
	// Mutex that is not locked (or a Cond Wait without its Mutex locked), a Release that would
	// make a bounded managed Semaphore hold more than its initial permits, a TaskDone of a
	// managed JoinableQueue with no value unfinished. The local objects panic on such misuse;
	// a managed one cannot know the state was not changed by another process, so it says so.
	ErrNotHeld = errors.New("mp: released what was not held")
)

// ErrNotFound is matched by the error of a pool's CancelTask or Recycle given a task or worker
// that is not there (any more): the task completed, or the worker ended, since the snapshot that
// named it.
var ErrNotFound = errors.New("mp: not found")

// errorRegistry maps stable codes to sentinel errors, in registration order, and to error types
// (RegisterErrorType). Sentinels and types share one space of codes.
var errorRegistry struct {
	sync.RWMutex
	codes  []string
	errs   []error
	byCode map[string]error
	types  map[string]*errorType       // by code
	byType map[reflect.Type]*errorType // by the registered type
}

func init() {
	for _, e := range []struct {
		code string
		err  error
	}{
		{"mp.not_started", ErrNotStarted},
		{"mp.already_started", ErrAlreadyStarted},
		{"mp.not_registered", ErrNotRegistered},
		{"mp.encode", ErrEncode},
		{"mp.decode", ErrDecode},
		{"mp.daemon_children", ErrDaemonChildren},
		{"mp.not_supported", ErrNotSupported},
		{"mp.handshake", ErrHandshake},
		{"mp.no_init", ErrNoInit},
		{"mp.no_result", ErrNoResult},
		{"mp.invalid_option", ErrInvalidOption},
		{"mp.closed", ErrClosed},
		{"mp.protocol", ErrProtocol},
		{"mp.queue_full", ErrQueueFull},
		{"mp.queue_empty", ErrQueueEmpty},
		{"mp.too_large", ErrTooLarge},
		{"mp.owner_dead", ErrOwnerDead},
		{"mp.broken_barrier", ErrBrokenBarrier},
		{"mp.authentication", ErrAuthentication},
		{"mp.worker_died", ErrWorkerDied},
		{"mp.broken_pool", ErrBrokenPool},
		{"mp.result_lost", ErrResultLost},
		{"mp.manager_dead", ErrManagerDead},
		{"mp.out_of_range", ErrOutOfRange},
		{"mp.not_held", ErrNotHeld},
		{"mp.not_found", ErrNotFound},
		{"context.Canceled", context.Canceled},
		{"context.DeadlineExceeded", context.DeadlineExceeded},
		{"io.EOF", io.EOF},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF},
		{"io.ErrClosedPipe", io.ErrClosedPipe},
		{"fs.ErrNotExist", fs.ErrNotExist},
		{"fs.ErrExist", fs.ErrExist},
		{"fs.ErrPermission", fs.ErrPermission},
		{"fs.ErrClosed", fs.ErrClosed},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
	} {
		RegisterError(e.code, e.err)
	}
}

// RegisterError registers a sentinel error under a stable code, so that an error returned in a
// child that matches err (errors.Is) matches err in the parent as well. It returns err, to be used
// in a package-level declaration:
//
//	var ErrSoldOut = mp.RegisterError("shop.sold_out", errors.New("sold out"))
//
// Register sentinels at package level, as functions are, so that parent and child agree. It
// panics on an empty code, a nil error, or a code registered twice (codes are shared with
// RegisterErrorType, which registers error types whose fields travel). The sentinels of this package,
// of context, io, io/fs and os are registered already.
func RegisterError(code string, err error) error {
	if code == "" {
		panic("mp: RegisterError with an empty code")
	}
	if err == nil {
		panic("mp: RegisterError(" + code + ") with a nil error")
	}
	errorRegistry.Lock()
	defer errorRegistry.Unlock()
	if errorRegistry.byCode == nil {
		errorRegistry.byCode = make(map[string]error)
	}
	if _, dup := errorRegistry.byCode[code]; dup {
		panic("mp: RegisterError called twice for code " + code)
	}
	if et, dup := errorRegistry.types[code]; dup {
		panic(fmt.Sprintf("mp: RegisterError(%q): the code is registered already, for the error type %s", code, et.typ))
	}
	errorRegistry.byCode[code] = err
	errorRegistry.codes = append(errorRegistry.codes, code)
	errorRegistry.errs = append(errorRegistry.errs, err)
	return err
}

// toWire flattens err for the control channel, keeping the codes of every registered sentinel it
// matches, its errno, if any, and the errors of registered types in its chain (typedToWire).
func toWire(err error) *wire.Error {
	we := &wire.Error{Message: err.Error(), Type: reflect.TypeOf(err).String()}
	errorRegistry.RLock()
	for i, s := range errorRegistry.errs {
		if errors.Is(err, s) {
			we.Codes = append(we.Codes, errorRegistry.codes[i])
		}
	}
	errorRegistry.RUnlock()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		we.Errno = int(errno)
	}
	typedToWire(err, we)
	return we
}

// sentinels rebuilds the list of errors a wire error matched in the child.
func sentinels(we *wire.Error) []error {
	var out []error
	errorRegistry.RLock()
	for _, c := range we.Codes {
		if s, ok := errorRegistry.byCode[c]; ok {
			out = append(out, s)
		}
	}
	errorRegistry.RUnlock()
	if we.Errno != 0 {
		out = append(out, syscall.Errno(we.Errno))
	}
	return out
}

// fromWire rebuilds an error received from process name/pid: the errors of registered types in
// its chain first (typedFromWire), then the sentinels it matched.
func fromWire(name string, pid int, we *wire.Error) error {
	typed, problem := typedFromWire(we)
	errs := append(typed, sentinels(we)...)
	if we.Panic {
		return &PanicError{Name: name, Pid: pid, Value: we.Message, Stack: we.Stack, errs: errs}
	}
	return &ProcessError{Name: name, Pid: pid, Message: we.Message, Type: we.Type, Unregistered: we.Unregistered, FieldsErr: problem, errs: errs}
}

// ProcessError is an error returned by a function that ran in a child process. It carries the
// child's message, the Go type of the original error, and the child's name and pid. errors.Is
// matches every registered sentinel (see RegisterError) the original error matched in the child,
// and a syscall.Errno it wrapped. errors.As finds, with their fields, the errors of registered
// types (see RegisterErrorType) that the original error's chain held in the child.
type ProcessError struct {
	Name    string // the child's process name
	Pid     int    // the child's pid
	Message string // the original error's message
	Type    string // the original error's dynamic Go type, such as "*fs.PathError"
	// Unregistered names the types of errors in the original error's chain, declared outside the
	// standard library and mp, that are not registered with RegisterErrorType, such as
	// "*main.QuotaError": errors.As cannot find them here until they are. Error mentions them.
	Unregistered []string
	// FieldsErr, when not nil, says why an error of a registered type in the original error's
	// chain did not arrive: its fields could not be encoded in the child, or decoded here (an
	// ErrDecode error). errors.As does not find that error; the rest of the ProcessError is
	// intact, and FieldsErr is not in its chain (errors.Is(err, ErrDecode) stays false). Error
	// mentions it.
	FieldsErr error
	errs      []error
}

// Error returns the child's message, prefixed with which process it came from. It is followed by
// how to register the types named in Unregistered, if any, and by FieldsErr, if set.
func (e *ProcessError) Error() string {
	msg := fmt.Sprintf("mp: process %s (pid %d): %s", e.Name, e.Pid, strings.TrimPrefix(e.Message, "mp: "))
	if len(e.Unregistered) > 0 {
		msg += " (register " + strings.Join(e.Unregistered, ", ") + " with mp.RegisterErrorType to receive it with errors.As)"
	}
	if e.FieldsErr != nil {
		msg += " (" + strings.TrimPrefix(e.FieldsErr.Error(), "mp: ") + ")"
	}
	return msg
}

// Unwrap returns the errors of registered types the original error's chain held in the child,
// rebuilt with their fields, then the registered sentinels it matched.
func (e *ProcessError) Unwrap() []error { return e.errs }

// PanicError reports a panic in a function that ran in a child process, with the child's stack.
type PanicError struct {
	Name  string // the child's process name
	Pid   int    // the child's pid
	Value string // the panic value, formatted with %v
	Stack string // the panicking goroutine's stack in the child
	errs  []error
}

// Error returns the panic value and where it happened; the stack is in the Stack field.
func (e *PanicError) Error() string {
	return fmt.Sprintf("mp: process %s (pid %d) panicked: %s", e.Name, e.Pid, e.Value)
}

// Unwrap returns, when the panic value was an error, the errors of registered types in its chain
// (see RegisterErrorType) and the registered sentinels it matched.
func (e *PanicError) Unwrap() []error { return e.errs }

// ExitError reports a child that ended without reporting a result: it called os.Exit with a
// non-zero code, or was killed by a signal (by Terminate, Kill, the kernel's OOM killer, a crash
// in cgo code, …). The embedded ProcessState has the details.
//
// For a pool worker that died while running a task, the error also matches ErrWorkerDied; for one
// that died after its task's function returned but before the result was sent, ErrResultLost.
type ExitError struct {
	Name string // the child's process name
	Pid  int    // the child's pid
	*os.ProcessState
	cause error
}

// Error says how the child ended.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("mp: process %s (pid %d) %s", e.Name, e.Pid, describeExit(e.ProcessState))
	switch e.cause {
	case ErrWorkerDied:
		msg += " while running this task"
	case ErrResultLost:
		msg += " after this task's function returned, before its result was sent: the task ran, its result is lost"
	}
	return msg
}

// Unwrap returns ErrWorkerDied for a pool worker that died while running the task, ErrResultLost
// for one that died after the task's function returned, else nil.
func (e *ExitError) Unwrap() error { return e.cause }

// Code returns the exit code in Python's convention: the code given to os.Exit, or minus the
// signal number when a signal ended the process.
func (e *ExitError) Code() int { return exitCode(e.ProcessState) }

func describeExit(st *os.ProcessState) string {
	if st == nil {
		return "ended; its exit status is unknown" // it could not be waited for
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "was killed by signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("exited with status %d", st.ExitCode())
}

func exitCode(st *os.ProcessState) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return st.ExitCode()
}
