package mp

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
)

// Func is a function registered to run in child processes: the typed handle Register returns.
// Pass it to NewProcess or Run, or to a pool's Apply, Submit, Map and MapSeq. Functions cross the
// process boundary by name, arguments and results by value (see the codec notes in the package
// documentation); T and R are types whose values cross intact, which Register checks.
//
// A *Func is immutable and safe for concurrent use. Calling it directly with Call runs it in the
// current process.
type Func[T, R any] struct {
	name string
	fn   func(context.Context, T) (R, error)
}

// Name returns the name the function was registered under.
func (f *Func[T, R]) Name() string { return f.name }

// Call runs the function in the current process, as a plain Go call.
func (f *Func[T, R]) Call(ctx context.Context, arg T) (R, error) { return f.fn(ctx, arg) }

// String returns "mp.Func(name)".
func (f *Func[T, R]) String() string { return "mp.Func(" + f.name + ")" }

// entry is a registered function as the registry holds it: its name, and the *Func[T, R] behind
// the untyped interface that children call (call.go).
type entry struct {
	name string
	caller
}

var registry struct {
	sync.RWMutex
	byName map[string]*entry
	byType map[reflect.Type]string // runner types, for NewRunnerProcess
}

// initStarted is set by Init; registering afterwards is a bug that would leave children without
// the function, so Register panics then.
var initStarted atomic.Bool

// Register registers fn under name so that child processes can run it, and returns its typed
// handle. Call it at package level — in a var declaration or an init function — so that it runs
// in every process, children included, before main:
//
//	var Square = mp.Register("square", func(ctx context.Context, x int) (int, error) {
//		return x * x, nil
//	})
//
// The argument and result types must cross processes intact. The codec encodes exported struct
// fields only, so Register panics — naming the type, the field and the fix — when a struct in T
// or R, at any depth (fields, embedded structs, pointers, slice and array elements, map keys and
// values), has an unexported field that would arrive as its zero value: export it, or tag it
// `cbor:"-"` to leave it out on purpose. Likewise for a field hidden by another of the same name
// (embedded structs follow encoding/json's rules), and for a field of a kind the codec cannot
// encode (a channel or a function; complex numbers travel as pairs of floats). Blank fields, zero-size fields and
// sync.Mutex and sync.RWMutex fields may stay unexported. Types that encode themselves
// (cbor.Marshaler, encoding.BinaryMarshaler: time.Time, big.Int, netip.Addr) and mp's handles are
// not looked into. A value behind an interface (a field of type any) is checked when it is
// encoded, the first time for each dynamic type, and fails that call with an ErrEncode error.
// The check walks each type once, at registration; calls do not pay for it.
//
// A child runs package initialisation afresh: it sees package variables as their initialisers
// set them, not as the parent changed them before starting it (Python's fork start method copies
// them; spawn, as here, does not). Pass what a task needs in its argument.
//
// Register panics on an empty name, a nil function, a name registered twice, a type that would
// not cross intact, or a call after Init (a function registered in main would be unknown to the
// children).
func Register[T, R any](name string, fn func(ctx context.Context, arg T) (R, error)) *Func[T, R] {
	if fn == nil {
		panic("mp: Register(" + name + ") with a nil function")
	}
	checkFuncTypes[T, R](name)
	f := &Func[T, R]{name: name, fn: fn}
	register(&entry{name: name, caller: f})
	return f
}

func register(e *entry) {
	name := e.name
	if name == "" {
		panic("mp: Register with an empty name")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byName[name]; dup {
		panic("mp: Register called twice for name " + name)
	}
	if initStarted.Load() {
		panic(fmt.Sprintf("mp: Register(%q) called after mp.Init; register at package level (a var declaration or an init function) so that child processes know the function too", name))
	}
	if registry.byName == nil {
		registry.byName = make(map[string]*entry)
	}
	registry.byName[name] = e
}

func lookup(name string) (*entry, bool) {
	registry.RLock()
	defer registry.RUnlock()
	e, ok := registry.byName[name]
	return e, ok
}

// Runner is the Go form of Python's Process subclass with a run() method: a type whose exported
// fields are its state and whose Run method is the body of the process. Register the type with
// RegisterRunner and start a value of it with NewRunnerProcess (or NewProcess with the handle).
// The value is encoded in the parent and decoded in the child, so only exported fields arrive:
// RegisterRunner refuses a type with an unexported field, as Register does, unless the field is
// tagged `cbor:"-"`.
//
// Inside Run, mp.Current() describes the process running it: Current().Name and Current().Pid
// are Python's self.name and self.pid inside run() (the runner value holds only the fields it
// was sent with).
type Runner interface {
	Run(ctx context.Context) error
}

// RegisterRunner registers the Runner type T under name, as Register does for functions, and
// returns a handle whose argument is the runner value itself:
//
//	type Task struct{ Name string }
//	func (t *Task) Run(ctx context.Context) error { fmt.Println("hello from", t.Name); return nil }
//	var TaskFunc = mp.RegisterRunner[*Task]("task")
//
//	p := mp.NewRunnerProcess(&Task{Name: "Nick"}) // or mp.NewProcess(TaskFunc, &Task{Name: "Nick"})
//
// It panics as Register does, and also when T was registered under another name.
func RegisterRunner[T Runner](name string) *Func[T, struct{}] {
	t := reflect.TypeFor[T]()
	registry.RLock()
	prev, dup := registry.byType[t]
	registry.RUnlock()
	if dup {
		panic(fmt.Sprintf("mp: RegisterRunner: type %s is registered already as %q", t, prev))
	}
	f := Register(name, func(ctx context.Context, r T) (struct{}, error) {
		return struct{}{}, r.Run(ctx)
	})
	registry.Lock()
	defer registry.Unlock()
	if registry.byType == nil {
		registry.byType = make(map[reflect.Type]string)
	}
	registry.byType[t] = name
	return f
}
