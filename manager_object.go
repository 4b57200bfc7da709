package mp

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Custom managed types: Python's BaseManager.register(typeid, callable, exposed=...,
// method_to_typeid=...), typed. A Go type is registered, with its constructor, under a name
// (RegisterManagedType), and each method that may be called on it from other processes is
// exposed under a name (Expose). A value of it lives in the manager process; other processes
// hold a *ManagedObject[T], a proxy like the others, and call the exposed methods through it.
// The manager process is a re-exec of the same binary, so the registrations made at package
// level are there too, and a name finds the same code on both sides.

// ErrNotExposed is matched by the error of a call, on a managed object, of a method its type does
// not expose (see Expose): the message names the methods it does expose.
var ErrNotExposed = RegisterError("mp.not_exposed", errors.New("mp: method not exposed by the managed type"))

// managedObjectKindPrefix starts the kind of a custom object's proxy ("obj:" and the type's
// name), so that a custom type's name never collides with a kind of the manager's own.
const managedObjectKindPrefix = "obj:"

// mtype is a registered managed type as the manager runs it: on encoded values.
type mtype struct {
	name   string
	kind   string
	goType reflect.Type
	// create decodes the constructor's argument and runs the constructor; the value is a *T.
	create func(ctx context.Context, m *Manager, arg []byte) (any, error)

	mu      sync.RWMutex
	methods map[string]*mmethod
}

// mmethod is an exposed method as the manager runs it: decode decodes the argument, run calls
// the method on obj (a *T) with what decode returned, and encodes the result.
type mmethod struct {
	name   string
	decode func(arg []byte) (any, error)
	run    func(ctx context.Context, obj any, arg any) ([]byte, error)
}

var managedTypes struct {
	sync.RWMutex
	byName map[string]*mtype
	byType map[reflect.Type]*mtype
}

func lookupManagedType(kind string) *mtype {
	managedTypes.RLock()
	defer managedTypes.RUnlock()
	return managedTypes.byName[strings.TrimPrefix(kind, managedObjectKindPrefix)]
}

func managedTypeOf(t reflect.Type) *mtype {
	managedTypes.RLock()
	defer managedTypes.RUnlock()
	return managedTypes.byType[t]
}

// method returns the exposed method name, or an ErrNotExposed error naming those exposed.
func (t *mtype) method(name string) (*mmethod, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if m := t.methods[name]; m != nil {
		return m, nil
	}
	names := make([]string, 0, len(t.methods))
	for n := range t.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w: the managed type %s exposes no method %q (it exposes: %s); expose a method with mp.Expose", ErrNotExposed, t.name, name, strings.Join(names, ", "))
}

// ManagedType is a Go type T registered to live in a manager, made by a constructor that takes
// an argument of type A: the handle RegisterManagedType returns, for NewManagedObject and
// Expose. A *ManagedType is immutable once Init has run and safe for concurrent use.
type ManagedType[T, A any] struct{ t *mtype }

// Name returns the name the type was registered under.
func (mt *ManagedType[T, A]) Name() string { return mt.t.name }

// RegisterManagedType registers T under name as a type whose values live in a manager: Python's
// BaseManager.register(typeid, callable). newFn makes a value, in the manager process, for
// NewManagedObject's argument; m is the manager it runs in, through which newFn may create the
// managed objects the value holds (a *Dict, say: see Expose for methods that return them). An
// error of newFn reaches NewManagedObject's caller with its identity (errors.Is, errors.As), as
// a task's does. m is the manager process's connection to itself, opened on first use (it counts
// in Stats' Connections); its Close and Shutdown do nothing.
//
// When the object is freed (no proxy holds it and nothing stores it), its Close method runs, in
// the manager, if *T has one (Close() error, or Close()): that is where it closes the proxies it
// holds.
//
// Register it at package level, as Register does functions, so that the manager process knows
// it too; RegisterManagedType panics as Register does (an empty or duplicate name, a nil
// function, an argument type that would not cross intact, a call after Init), and on a type T
// registered twice.
func RegisterManagedType[T, A any](name string, newFn func(ctx context.Context, m *Manager, arg A) (*T, error)) *ManagedType[T, A] {
	if newFn == nil {
		panic("mp: RegisterManagedType(" + name + ") with a nil constructor")
	}
	if name == "" {
		panic("mp: RegisterManagedType with an empty name")
	}
	checkFuncTypes[A, struct{}]("the constructor of the managed type " + name)
	gt := reflect.TypeFor[T]()
	t := &mtype{name: name, kind: managedObjectKindPrefix + name, goType: gt, methods: map[string]*mmethod{}}
	t.create = func(ctx context.Context, m *Manager, arg []byte) (any, error) {
		var a A
		if err := managerDecode("the argument of the constructor of "+name, arg, &a); err != nil {
			return nil, err
		}
		v, err := newFn(ctx, m, a)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("mp: the constructor of the managed type %s returned a nil *%s and no error", name, gt)
		}
		return v, nil
	}
	managedTypes.Lock()
	defer managedTypes.Unlock()
	if initStarted.Load() {
		panic(fmt.Sprintf("mp: RegisterManagedType(%q) called after mp.Init; register at package level so that the manager process knows the type too", name))
	}
	if _, dup := managedTypes.byName[name]; dup {
		panic("mp: RegisterManagedType called twice for name " + name)
	}
	if prev := managedTypes.byType[gt]; prev != nil {
		panic(fmt.Sprintf("mp: RegisterManagedType(%q): the type %s is registered already, as %q", name, gt, prev.name))
	}
	if managedTypes.byName == nil {
		managedTypes.byName = map[string]*mtype{}
		managedTypes.byType = map[reflect.Type]*mtype{}
	}
	managedTypes.byName[name] = t
	managedTypes.byType[gt] = t
	return &ManagedType[T, A]{t: t}
}

// Method is a method of a managed type T exposed to other processes, with an argument of type A
// and a result of type R: the handle Expose returns, whose Call runs it in the manager. A
// *Method is immutable and safe for concurrent use.
type Method[T, A, R any] struct {
	t    *mtype
	name string
}

// Name returns the name the method was exposed under.
func (mm *Method[T, A, R]) Name() string { return mm.name }

// Expose exposes fn as the method name of the managed type typ: only exposed methods can be
// called on a managed object (Python's exposed=); a call of any other name, through
// ManagedObject.Call or from a program built otherwise, fails with ErrNotExposed. fn is usually a
// method expression: mp.Expose(Counter, "Incr", (*Counter).Incr).
//
// fn runs in the manager process, on the object, and the calls on one object run one at a time
// (in the order they reach the manager), so T needs no lock of its own; calls on different
// objects run at the same time. Do not call, from fn, a method of the same object through the
// manager: it would wait for itself. fn's ctx ends when the caller's process disconnects from
// the manager or the manager stops; a caller whose own ctx ends stops waiting for the result
// (the connection stays in step) but does not stop fn.
//
// An error of fn reaches the caller with its identity (errors.Is, errors.As), as a task's does;
// a panic in fn is the call's error, and the manager serves on. A result that holds proxies
// (a *Dict, a *List, a *ManagedObject of the same manager...) arrives as live proxies: Python's
// method_to_typeid. The caller's process holds their objects from the reply on; the manager's
// own proxies, which fn returned, keep holding them for as long as they live (store them in T,
// and close them in T's Close; a proxy made only to be returned is let go of when the manager's
// garbage collector finds it).
//
// Expose at package level, beside RegisterManagedType; Expose panics on an empty or duplicate
// name, a nil fn, types that would not cross intact, or a call after Init.
func Expose[T, CA, A, R any](typ *ManagedType[T, CA], name string, fn func(obj *T, ctx context.Context, arg A) (R, error)) *Method[T, A, R] {
	if typ == nil || fn == nil {
		panic("mp: Expose(" + name + ") with a nil type or function")
	}
	if name == "" {
		panic("mp: Expose with an empty method name, for the managed type " + typ.t.name)
	}
	what := typ.t.name + "." + name
	checkFuncTypes[A, R]("the method " + what)
	m := &mmethod{
		name: name,
		decode: func(arg []byte) (any, error) {
			var a A
			if err := managerDecode("the argument of "+what, arg, &a); err != nil {
				return nil, err
			}
			return a, nil
		},
		run: func(ctx context.Context, obj, arg any) ([]byte, error) {
			r, err := fn(obj.(*T), ctx, arg.(A))
			if err != nil {
				return nil, err
			}
			return managerEncode("the result of "+what, r)
		},
	}
	managedTypes.Lock()
	defer managedTypes.Unlock()
	if initStarted.Load() {
		panic(fmt.Sprintf("mp: Expose(%q) called after mp.Init; expose methods at package level so that the manager process knows them too", what))
	}
	typ.t.mu.Lock()
	defer typ.t.mu.Unlock()
	if _, dup := typ.t.methods[name]; dup {
		panic("mp: Expose called twice for " + what)
	}
	typ.t.methods[name] = m
	return &Method[T, A, R]{t: typ.t, name: name}
}

// ManagedObject is a proxy of a value of the managed type T that lives in a manager (see
// RegisterManagedType): Python's proxy of a registered typeid. Its exposed methods are called
// with their Method handles (Method.Call), or by name with Call.
//
// Like every proxy it is a handle: it may be passed to other processes in task arguments, over a
// Conn, on a Queue, stored in a Dict, published (Manager.Publish, Lookup); each process holding
// it counts as one reference, and the object lives while one does (see Manager). Close lets go
// of this proxy's reference. A *ManagedObject is safe for concurrent use. A nil, zero or closed
// one returns errors wrapping ErrClosed.
type ManagedObject[T any] struct{ p *proxyBase }

// NewManagedObject creates a value of the managed type typ in the manager m, with typ's
// constructor run there on arg, and returns its proxy: one round trip, plus what the
// constructor does.
func NewManagedObject[T, A any](ctx context.Context, m *Manager, typ *ManagedType[T, A], arg A) (*ManagedObject[T], error) {
	if typ == nil {
		return nil, fmt.Errorf("%w: NewManagedObject with a nil *ManagedType", ErrNotRegistered)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	ab, err := managerEncode("the argument of the constructor of "+typ.t.name, arg)
	if err != nil {
		return nil, err
	}
	rep, err := m.c.call(ctx, managerOpObjNew, &mreq{Name: typ.t.name, Val: ab})
	if err != nil {
		return nil, err
	}
	o := &ManagedObject[T]{p: newProxyBase(m.c, typ.t.kind, uint64(rep.N))}
	watch(o, o.p)
	return o, nil
}

// Call runs the method on the object, in the manager, with arg, and returns its result, with
// its error's identity kept (see Expose). obj must be a live proxy.
func (mm *Method[T, A, R]) Call(ctx context.Context, obj *ManagedObject[T], arg A) (R, error) {
	var r R
	if mm == nil {
		return r, fmt.Errorf("%w: Call of a nil *Method", ErrNotRegistered)
	}
	ab, err := managerEncode("the argument of "+mm.t.name+"."+mm.name, arg)
	if err != nil {
		return r, err
	}
	rep, err := obj.base().call(ctx, obj.what(), managerOpObjCall, &mreq{Name: mm.name, Val: ab})
	if err != nil {
		return r, err
	}
	err = managerDecode("the result of "+mm.t.name+"."+mm.name, rep.Val, &r)
	return r, err
}

// Call runs the method exposed under name on the object, in the manager, with arg (which must
// be of the method's argument type, or decode as one), and decodes its result into result (a
// pointer; nil drops it). It is the untyped form of Method.Call, for a name known at run time:
// a name the type does not expose fails with ErrNotExposed.
func (o *ManagedObject[T]) Call(ctx context.Context, method string, arg, result any) error {
	ab, err := encodeValue("the argument of "+method, arg)
	if err != nil {
		return err
	}
	rep, err := o.base().call(ctx, o.what(), managerOpObjCall, &mreq{Name: method, Val: ab})
	if err != nil || result == nil {
		return err
	}
	return decodeAnyInto("the result of "+method, rep.Val, result)
}

// decodeInto is decodeValue for a target known at run time: ptr must be a non-nil pointer.
func decodeAnyInto(what string, b []byte, ptr any) error {
	pv := reflect.ValueOf(ptr)
	if pv.Kind() != reflect.Pointer || pv.IsNil() {
		return fmt.Errorf("%w: %s into %T: the result must be a non-nil pointer", ErrDecode, what, ptr)
	}
	t := pv.Type().Elem()
	if complexMirrorOf(t).t != nil {
		return fmt.Errorf("%w: %s into %s: a type holding complex numbers needs the typed Method.Call", ErrDecode, what, t)
	}
	if limit := decodeBudget(len(b)); uint64(len(b))*perItemCost(t) > limit {
		if err := codecDec.Wellformed(b); err != nil {
			return decodeError(what, t, err)
		}
		if !measureDecode(b, t, limit).ok {
			return fmt.Errorf("%w: %s into %s: %d bytes would build more than %d bytes", ErrDecode, what, t, len(b), limit)
		}
	}
	if err := codecDec.Unmarshal(b, ptr); err != nil {
		return decodeError(what, t, err)
	}
	return nil
}

func (o *ManagedObject[T]) base() *proxyBase {
	if o == nil {
		return nil
	}
	return o.p
}

func (o *ManagedObject[T]) what() string {
	if t := managedTypeOf(reflect.TypeFor[T]()); t != nil {
		return "mp.ManagedObject[" + t.name + "]"
	}
	return "mp.ManagedObject"
}

// Close lets go of this proxy's reference to the object (see Manager). It is idempotent and does
// nothing on a nil ManagedObject.
func (o *ManagedObject[T]) Close() error {
	o.base().close()
	return nil
}

// String describes the proxy: "mp.ManagedObject[shop.counter](7)", with the object's id.
func (o *ManagedObject[T]) String() string { return o.base().String(o.what()) }

// MarshalCBOR encodes the proxy (the manager's address and token, the object's id), for another
// process; it fails on a nil, zero or closed ManagedObject.
func (o *ManagedObject[T]) MarshalCBOR() ([]byte, error) { return o.base().marshal(o.what()) }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR; this process connects to the manager on
// its first call. T must be registered (RegisterManagedType) in this program, and the object
// must be of that type: otherwise it is an ErrDecode error.
func (o *ManagedObject[T]) UnmarshalCBOR(b []byte) error {
	t := managedTypeOf(reflect.TypeFor[T]())
	if t == nil {
		return fmt.Errorf("%w: a *mp.ManagedObject[%s] arrived, but %s is not a registered managed type in this program (mp.RegisterManagedType)", ErrDecode, reflect.TypeFor[T](), reflect.TypeFor[T]())
	}
	p, err := unmarshalProxy(o.what(), t.kind, b)
	if err != nil {
		return err
	}
	o.p = p
	watch(o, p)
	return nil
}
