// Package handlekind is where packages of this module that know a kind of descriptor-backed
// value the root package cannot import (the net package's connections and listeners, in mpnet)
// register how to pass it to another process.
package handlekind

import (
	"os"
	"reflect"
	"sync"
)

// Kind is a kind of value that travels as one descriptor.
type Kind struct {
	// Name identifies the kind on the wire, e.g. "net.Conn".
	Name string
	// Match reports whether values of dynamic type t are of this kind.
	Match func(t reflect.Type) bool
	// Open makes a value of this kind from a received descriptor; it takes ownership of f.
	Open func(f *os.File) (any, error)
}

var (
	mu    sync.RWMutex
	kinds []*Kind
)

// Register adds k. Call it from an init function.
func Register(k *Kind) {
	mu.Lock()
	defer mu.Unlock()
	kinds = append(kinds, k)
}

// ForType returns the kind that values of type t belong to, or nil.
func ForType(t reflect.Type) *Kind {
	mu.RLock()
	defer mu.RUnlock()
	for _, k := range kinds {
		if k.Match(t) {
			return k
		}
	}
	return nil
}

// ByName returns the kind called name, or nil.
func ByName(name string) *Kind {
	mu.RLock()
	defer mu.RUnlock()
	for _, k := range kinds {
		if k.Name == name {
			return k
		}
	}
	return nil
}
