package mp

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/mp-go/mp/internal/bootstrap"
	"github.com/mp-go/mp/internal/wire"
)

// Error types across the process boundary. A sentinel keeps its identity by its code
// (RegisterError); an error type with fields is registered the same way (RegisterErrorType), and
// its values travel as their fields. In the child, toWire walks the error's chain and encodes,
// with the codec, each error whose dynamic type is registered (the first of each type, as
// errors.As would find it); in the parent, fromWire decodes each into a fresh value of its type,
// which the *ProcessError's Unwrap returns, so that errors.As finds it. Decoding runs no code of
// the type's: RegisterErrorType refuses a type whose decoding would call one of its methods
// (UnmarshalCBOR, UnmarshalBinary), and a field of a non-empty interface type (error, say), which
// the codec could not decode into.

// errorType is a registered error type.
type errorType struct {
	code string
	typ  reflect.Type
	// decode rebuilds a value of the type from its encoded fields.
	decode func(fields []byte) (error, error)
}

// maxChain bounds the errors toWire looks at in one error's chain (a tree, with errors that wrap
// several).
const maxChain = 1000

// maxUnregistered bounds the unregistered types a wire error names.
const maxUnregistered = 4

// RegisterErrorType registers the error type T under a stable code, so that an error of type T
// returned by a function in a child — itself, or wrapped at any depth, by fmt.Errorf's %w or
// errors.Join — arrives in the parent with its exported fields: errors.As finds it in the
// *ProcessError (or *PanicError) that Run, Wait, pool calls, Map, MapSeq and futures return.
// Register the type your code returns: for an error declared as
//
//	type QuotaError struct {
//		User  string
//		Limit int
//	}
//
//	func (e *QuotaError) Error() string { return fmt.Sprintf("%s is over quota (%d)", e.User, e.Limit) }
//
// that is *QuotaError, and the parent declares the target as it would for a local error:
//
//	func init() { mp.RegisterErrorType[*QuotaError]("shop.quota") }
//
//	var qe *QuotaError
//	if errors.As(err, &qe) { … qe.User, qe.Limit … }
//
// A type with a value receiver (func (e QuotaError) Error()) can be registered as QuotaError; the
// child then finds values of QuotaError, not of *QuotaError, exactly as errors.As does in one
// process. Codes share one space with RegisterError's.
//
// The fields travel as a function's result does, encoded by the codec and decoded within its
// limits (see DecodeLimits), so the type must cross intact: RegisterErrorType panics, naming the
// field and the fix, on an unexported field (tag it `cbor:"-"` to leave it out), on a field the
// codec cannot encode, and — since decoding in the parent must run no code of the type's — on a
// type whose decoding would call its own UnmarshalCBOR or UnmarshalBinary method (time.Time and
// big.Int are fine), on a handle, and on a field of a non-empty interface type, such as a
// wrapped `Err error`: tag it `cbor:"-"`; the sentinels and registered error types it wraps
// still arrive, since the child walks the whole chain. The type's methods (Error, Unwrap, Is,
// As) are those of the parent's copy of the binary: only the fields travel.
//
// In the child, the first error of each registered type in the chain is sent, in the order
// errors.As visits the chain (an error's own As method is not consulted). If its fields fail to
// encode in the child or to decode in the parent, the *ProcessError is returned all the same,
// with the failure in its FieldsErr field. An error of a type declared outside the standard
// library and mp that is not registered arrives as today, as a *ProcessError whose message says
// how to register it (see ProcessError.Unregistered).
//
// Call RegisterErrorType at package level (an init function), as Register is, so that parent and
// child agree. It panics on an empty code, a code or a type registered twice, an interface type,
// a type that would not cross intact, or a call after Init.
func RegisterErrorType[T error](code string) {
	t := reflect.TypeFor[T]()
	if code == "" {
		panic(fmt.Sprintf("mp: RegisterErrorType[%s] with an empty code", t))
	}
	if t.Kind() == reflect.Interface {
		panic(fmt.Sprintf("mp: RegisterErrorType[%s](%q): %s is an interface type; register the concrete type the child returns, such as *MyError", t, code, t))
	}
	if !bootstrap.Marked() {
		// A child skips the check, as Register does: the parent ran it with the same outcome.
		if p := errorTypeProblem(t); p != "" {
			panic(fmt.Sprintf("mp: RegisterErrorType[%s](%q): values of %s cannot cross processes intact: %s", t, code, t, p))
		}
	}
	const what = "the fields of an error"
	et := &errorType{code: code, typ: t, decode: func(b []byte) (error, error) {
		var v T
		if err := decodeValue(what, b, &v); err != nil {
			return nil, err
		}
		if t.Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil() {
			return nil, fmt.Errorf("%w: %s into %s: a nil pointer", ErrDecode, what, t)
		}
		return v, nil
	}}
	errorRegistry.Lock()
	defer errorRegistry.Unlock()
	if _, dup := errorRegistry.byCode[code]; dup {
		panic(fmt.Sprintf("mp: RegisterErrorType[%s](%q): the code is registered already, for a sentinel (RegisterError)", t, code))
	}
	if prev, dup := errorRegistry.types[code]; dup {
		panic(fmt.Sprintf("mp: RegisterErrorType[%s](%q): the code is registered already, for %s", t, code, prev.typ))
	}
	if prev, dup := errorRegistry.byType[t]; dup {
		panic(fmt.Sprintf("mp: RegisterErrorType[%s](%q): the type is registered already, under code %q", t, code, prev.code))
	}
	if initStarted.Load() {
		panic(fmt.Sprintf("mp: RegisterErrorType[%s](%q) called after mp.Init; register at package level (an init function) so that child processes know the type too", t, code))
	}
	if errorRegistry.types == nil {
		errorRegistry.types = make(map[string]*errorType)
		errorRegistry.byType = make(map[reflect.Type]*errorType)
	}
	errorRegistry.types[code] = et
	errorRegistry.byType[t] = et
}

// walkChain calls f on each error of err's chain, depth first, in the order errors.As visits
// them, up to maxChain errors.
func walkChain(err error, f func(error)) {
	n := 0
	var walk func(e error)
	walk = func(e error) {
		for e != nil && n < maxChain {
			n++
			f(e)
			switch u := e.(type) {
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			case interface{ Unwrap() []error }:
				for _, x := range u.Unwrap() {
					walk(x)
				}
				return
			default:
				return
			}
		}
	}
	walk(err)
}

// typedToWire adds to we the errors of registered types in err's chain, with their fields, and
// the names of unregistered error types the user could register.
func typedToWire(err error, we *wire.Error) {
	var seen map[reflect.Type]bool
	walkChain(err, func(e error) {
		t := reflect.TypeOf(e)
		if seen[t] {
			return
		}
		errorRegistry.RLock()
		et := errorRegistry.byType[t]
		errorRegistry.RUnlock()
		if et == nil {
			if len(we.Unregistered) < maxUnregistered && registrable(t) {
				if seen == nil {
					seen = make(map[reflect.Type]bool)
				}
				seen[t] = true
				we.Unregistered = append(we.Unregistered, t.String())
			}
			return
		}
		if t.Kind() == reflect.Pointer && reflect.ValueOf(e).IsNil() {
			return // a nil *T in the chain: nothing to send; the next *T, if any, is sent
		}
		if seen == nil {
			seen = make(map[reflect.Type]bool)
		}
		seen[t] = true
		v := wire.Value{Code: et.code}
		b, encErr := marshalValue("fields of the error "+t.String(), e)
		if encErr != nil {
			v.Problem = encErr.Error()
		} else {
			v.Fields = b
		}
		we.Values = append(we.Values, v)
	})
}

// typedFromWire rebuilds the errors of registered types a wire error carries. problem says why
// some did not arrive, or is nil.
func typedFromWire(we *wire.Error) (errs []error, problem error) {
	var problems []error
	var done map[string]bool
	for _, v := range we.Values {
		if done[v.Code] {
			continue // a child sends one of each type: ignore more
		}
		if done == nil {
			done = make(map[string]bool)
		}
		done[v.Code] = true
		errorRegistry.RLock()
		et := errorRegistry.types[v.Code]
		errorRegistry.RUnlock()
		switch {
		case et == nil:
			problems = append(problems, fmt.Errorf("%w: the child sent an error of type code %q, which is not registered with RegisterErrorType in this process", ErrDecode, v.Code))
		case v.Problem != "":
			problems = append(problems, fmt.Errorf("the child could not send the error %s: %s", et.typ, strings.TrimPrefix(v.Problem, "mp: ")))
		default:
			e, err := et.decode(v.Fields)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			errs = append(errs, e)
		}
	}
	return errs, errors.Join(problems...)
}

var mpPackage = reflect.TypeFor[ProcessError]().PkgPath()

// registrable reports whether an error of type t is worth a hint: a named type declared outside
// the standard library and mp, which RegisterErrorType would accept.
func registrable(t reflect.Type) bool {
	if v, ok := registrableCache.Load(t); ok {
		return v.(bool)
	}
	ok := userType(t) && errorTypeProblem(t) == ""
	registrableCache.Store(t, ok)
	return ok
}

var registrableCache sync.Map // reflect.Type → bool

// userType reports whether t, or the type it points to, is a named type declared outside the
// standard library and mp.
func userType(t reflect.Type) bool {
	nt := t
	if nt.Kind() == reflect.Pointer {
		nt = nt.Elem()
	}
	pkg := nt.PkgPath()
	if nt.Name() == "" || pkg == "" || pkg == mpPackage || strings.HasPrefix(pkg, mpPackage+"/") {
		return false
	}
	if pkg == "main" || strings.Contains(strings.SplitN(pkg, "/", 2)[0], ".") {
		return true // the main package, or a module path with a domain
	}
	return !foreignPackage(pkg) // the main module, whatever its path looks like
}

var binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()

// errorTypeProblem returns why values of error type t would not cross processes intact, or why
// decoding them would run code of theirs, or "".
func errorTypeProblem(t reflect.Type) string {
	if p := typeProblem(t); p != "" {
		return p
	}
	return decodeProblem(t, typeLabel(t), make(map[reflect.Type]bool))
}

// decodeProblem returns why decoding a value of t, found at path, would call a method of a type
// or fail: an unmarshal method, a handle, a non-empty interface.
func decodeProblem(t reflect.Type, path string, seen map[reflect.Type]bool) string {
	for t.Kind() == reflect.Pointer {
		if isHandleType(t) {
			break
		}
		t = t.Elem()
	}
	if isHandleType(t) || isHandleType(reflect.PointerTo(t)) {
		return fmt.Sprintf("%s is a %s, a handle, which an error cannot carry: tag the field `cbor:\"-\"`", path, t)
	}
	if codecOwnTypes[t] || t == mutexType || t == rwMutexType || seen[t] {
		return ""
	}
	seen[t] = true
	pt := reflect.PointerTo(t)
	for _, m := range []struct {
		typ  reflect.Type
		name string
	}{{cborUnmarshalerType, "UnmarshalCBOR"}, {binaryUnmarshalerType, "UnmarshalBinary"}} {
		if pt.Implements(m.typ) {
			return fmt.Sprintf("%s is a %s, which the codec decodes by calling its %s method, and the parent runs no code of an error's to rebuild it: use fields of plain types, or tag the field `cbor:\"-\"`", path, t, m.name)
		}
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() > 0 {
			return fmt.Sprintf("%s is of interface type %s, which the codec cannot decode into: tag the field `cbor:\"-\"` to leave it out (the registered sentinels and error types it wraps arrive all the same: the child walks the whole chain)", path, t)
		}
	case reflect.Slice, reflect.Array:
		return decodeProblem(t.Elem(), path+"[i]", seen)
	case reflect.Map:
		if p := decodeProblem(t.Key(), path+"{key}", seen); p != "" {
			return p
		}
		return decodeProblem(t.Elem(), path+"[k]", seen)
	case reflect.Struct:
		for _, f := range structFieldsOf(t).fields {
			if p := decodeProblem(f.typ, path+"."+f.goPath, seen); p != "" {
				return p
			}
		}
	}
	return ""
}
