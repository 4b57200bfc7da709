package mp

import (
	"context"
	"fmt"
	"sync"
)

// UpdateFunc is a function registered to update a managed value in the manager process,
// atomically: the typed handle RegisterUpdate returns, for Update and UpdateValue. V is the
// type of the values it updates, A the type of its argument. A *UpdateFunc is immutable and safe
// for concurrent use.
type UpdateFunc[V, A any] struct {
	name string
	fn   func(ctx context.Context, cur V, ok bool, arg A) (V, error)
}

// Name returns the name the function was registered under.
func (f *UpdateFunc[V, A]) Name() string { return f.name }

// updater is an UpdateFunc as the manager runs it: on encoded values.
type updater interface {
	apply(ctx context.Context, cur []byte, ok bool, arg []byte) ([]byte, error)
}

func (f *UpdateFunc[V, A]) apply(ctx context.Context, cur []byte, ok bool, arg []byte) ([]byte, error) {
	var v V
	if ok {
		if err := managerDecode("the value "+f.name+" updates", cur, &v); err != nil {
			return nil, err
		}
	}
	var a A
	if err := managerDecode("the argument of "+f.name, arg, &a); err != nil {
		return nil, err
	}
	nv, err := f.fn(ctx, v, ok, a)
	if err != nil {
		return nil, err
	}
	return managerEncode("the value "+f.name+" returned", nv)
}

var updateRegistry struct {
	sync.RWMutex
	byName map[string]updater
}

// RegisterUpdate registers fn under name as an update function, which Update and UpdateValue
// run atomically: fn gets the current value (ok is false, and cur V's zero value, when there is
// none) and the caller's argument, and returns the new value, which is stored; an error stores
// nothing and reaches the caller with its identity (errors.Is, errors.As), as a task's does.
// UpdateValue runs fn in the manager process, under the manager's lock: no other operation on
// any of its objects runs meanwhile. Update on a Dict in shared memory (Linux) runs fn in the
// caller, under the dict's lock: no other operation on that dict runs meanwhile (see Update).
// Either way, keep fn short and free of side effects, and do not call the manager from it.
//
// Register it at package level, as Register does functions, so that the manager process knows
// it; RegisterUpdate panics as Register does (an empty or duplicate name, a nil function, types
// that would not cross intact, a call after Init).
func RegisterUpdate[V, A any](name string, fn func(ctx context.Context, cur V, ok bool, arg A) (V, error)) *UpdateFunc[V, A] {
	if fn == nil {
		panic("mp: RegisterUpdate(" + name + ") with a nil function")
	}
	if name == "" {
		panic("mp: RegisterUpdate with an empty name")
	}
	checkFuncTypes[A, V](name)
	f := &UpdateFunc[V, A]{name: name, fn: fn}
	updateRegistry.Lock()
	defer updateRegistry.Unlock()
	if _, dup := updateRegistry.byName[name]; dup {
		panic("mp: RegisterUpdate called twice for name " + name)
	}
	if initStarted.Load() {
		panic(fmt.Sprintf("mp: RegisterUpdate(%q) called after mp.Init; register at package level so that the manager process knows the function too", name))
	}
	if updateRegistry.byName == nil {
		updateRegistry.byName = map[string]updater{}
	}
	updateRegistry.byName[name] = f
	return f
}

func lookupUpdate(name string) (updater, bool) {
	updateRegistry.RLock()
	defer updateRegistry.RUnlock()
	u, ok := updateRegistry.byName[name]
	return u, ok
}
