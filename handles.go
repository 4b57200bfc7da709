package mp

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"sync"
	"syscall"

	"github.com/fxamacker/cbor/v2"
	"github.com/mp-go/mp/internal/handlekind"
	"github.com/mp-go/mp/internal/sys"
)

// Handles — queues, pipe ends, files, network connections and listeners — travel inside task
// arguments (and over a Conn) as descriptors passed by SCM_RIGHTS, never as memory or as
// descriptor numbers. Encoding walks the argument: each handle found in a struct field, slice or
// array element, pointer or interface value is replaced by nil in a copy of the path leading to
// it, and its descriptor (a duplicate, so the sender may close its own at once) is attached to
// the message with the handle's position. The receiver decodes the copy and puts a new handle,
// built from the received descriptor, at each position. Types that cannot hold a handle skip the
// walk entirely.

// handle is implemented by mp's own handle types. Most travel as one descriptor; a Cond travels
// as two, its own and its Mutex's.
type handle interface {
	// handleDup returns duplicates of the handle's descriptors, which the caller owns, with what
	// the receiver needs to rebuild it. It fails, wrapping ErrClosed, on a nil, zero or closed
	// handle.
	handleDup() (fds []int, meta string, err error)
	// handleAdopt is called on the zero value of the handle's type and returns a new handle of
	// that type over the received descriptors fds (never empty), which it owns, also on error.
	handleAdopt(fds []int, meta string) (any, error)
}

var (
	handleType      = reflect.TypeFor[handle]()
	osFileType      = reflect.TypeFor[*os.File]()
	syscallConnType = reflect.TypeFor[syscall.Conn]()
)

// handleTag marks an encoded value that carries handles: CBOR tag 28016 ("mp") around
// [value, [position, ...]]. Plain values are encoded bare.
const handleTag = 0x6d70

var handleTagPrefix = []byte{0xd9, 0x6d, 0x70}

// handleRef says where a handle goes and what it is; the descriptors travel in the same order.
type handleRef struct {
	_    struct{} `cbor:",toarray"`
	Path []int    // field, element indices from the root; pointers are followed implicitly
	Kind string   // "mp" for mp's own, "file", or a handlekind name
	Meta string
	N    int // descriptors, when more than one
}

type envelope struct {
	_     struct{} `cbor:",toarray"`
	Value []byte
	Refs  []handleRef
}

// mayHoldCache caches mayHold by type.
var mayHoldCache sync.Map // reflect.Type → bool

// mayHold reports whether a value of type t can contain a handle.
func mayHold(t reflect.Type) bool {
	if v, ok := mayHoldCache.Load(t); ok {
		return v.(bool)
	}
	mayHoldCache.Store(t, false) // while computing: a recursive type holds one only through another field
	r := computeMayHold(t)
	mayHoldCache.Store(t, r)
	return r
}

func computeMayHold(t reflect.Type) bool {
	if isHandleType(t) {
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHold(t.Elem())
	case reflect.Map:
		return mayHold(t.Key()) || mayHold(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && mayHold(f.Type) {
				return true
			}
		}
	}
	return false
}

// isHandleType reports whether values of the concrete type t are handles.
func isHandleType(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	return t.Implements(handleType) || t == osFileType || t.Implements(syscallConnType)
}

// outHandles collects the handles of one message being encoded.
type outHandles struct {
	refs  []handleRef
	fds   []int
	bulk  bool // big values go by shared memory (bulk.go)
	bulks int  // how many of refs are bulk values
}

func (o *outHandles) close() {
	for _, fd := range o.fds {
		sys.CloseFD(fd)
	}
	o.fds = nil
}

// encodeWith encodes v, passing the handles it holds when allow is set, and its big values by
// shared memory when bulk is set too (bulk.go); the descriptors returned belong to the caller
// (closeFDs).
func encodeWith(what string, v any, allow, bulk bool) ([]byte, []int, error) {
	if v == nil || !mayHold(reflect.TypeOf(v)) && !(bulk && mayBulk(reflect.TypeOf(v))) {
		b, err := marshalValue(what, v)
		return b, nil, err
	}
	out := outHandles{bulk: bulk}
	rv, changed, err := stripHandles(reflect.ValueOf(v), nil, what, &out)
	if err == nil && len(out.refs) > out.bulks && !allow {
		err = fmt.Errorf("%w: %s holds a handle (%s), and handles travel only in task arguments and over a Conn", ErrEncode, what, out.refs[0].describe())
	}
	if err != nil {
		out.close()
		return nil, nil, err
	}
	b, err := marshalValue(what, rv.Interface())
	if err != nil || !changed {
		out.close()
		return b, nil, err
	}
	env, err := codecEnc.Marshal(cbor.Tag{Number: handleTag, Content: envelope{Value: b, Refs: out.refs}})
	if err != nil {
		out.close()
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrEncode, what, err)
	}
	return env, out.fds, nil
}

// encodeArg encodes a task argument, which may carry handles and big values by shared memory.
func encodeArg(what string, v any) ([]byte, []int, error) { return encodeWith(what, v, true, true) }

func (r handleRef) describe() string {
	if r.Kind == "mp" {
		return r.Meta
	}
	return r.Kind
}

// stripHandles returns v with every handle it holds replaced by nil (copying what lies on the
// path to one), recording each handle in out.
func stripHandles(v reflect.Value, path []int, where string, out *outHandles) (reflect.Value, bool, error) {
	t := v.Type()
	if !mayHold(t) && !(out.bulk && mayBulk(t)) {
		return v, false, nil
	}
	if out.bulk {
		if elem, ok := bulkElem(t); ok {
			// Its elements hold no handles: it travels whole, inline or by shared memory.
			if v.Len()*elem < bulkThreshold {
				return v, false, nil
			}
			added, err := addBulk(v, path, where, out)
			if err != nil || !added {
				return v, false, err
			}
			return reflect.Zero(t), true, nil
		}
	}
	if t.Kind() == reflect.Interface {
		if v.IsNil() {
			return v, false, nil
		}
		e := v.Elem()
		if !isHandleType(e.Type()) && t.PkgPath() == "net" {
			return v, false, fmt.Errorf("%w: %s: a %s has no descriptor of its own and cannot be passed to another process; pass the connection under it", ErrEncode, where, e.Type())
		}
		if !isHandleType(e.Type()) {
			if _, changed, err := stripHandles(e, path, where, &outHandles{}); err != nil || changed {
				if err == nil {
					err = fmt.Errorf("%w: %s: a handle inside a value of interface type %s cannot be passed; put it in a field of its own type", ErrEncode, where, t)
				}
				return v, false, err
			}
			return v, false, nil
		}
		if e.Kind() == reflect.Pointer && e.IsNil() {
			return v, false, nil
		}
		if e.Type().Implements(handleType) {
			return v, false, fmt.Errorf("%w: %s: a %s in a field of interface type %s cannot be passed; use a field of type %s", ErrEncode, where, e.Type(), t, e.Type())
		}
		if err := addHandle(e, path, where, out); err != nil {
			return v, false, err
		}
		return reflect.Zero(t), true, nil
	}
	if isHandleType(t) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return v, false, nil
		}
		if err := addHandle(v, path, where, out); err != nil {
			return v, false, err
		}
		return reflect.Zero(t), true, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v, false, nil
		}
		e, changed, err := stripHandles(v.Elem(), path, where, out)
		if err != nil || !changed {
			return v, false, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(e)
		return p, true, nil
	case reflect.Struct:
		var cp reflect.Value
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || !mayHold(f.Type) && !(out.bulk && mayBulk(f.Type)) {
				continue
			}
			fv, changed, err := stripHandles(v.Field(i), append(path[:len(path):len(path)], i), where+"."+f.Name, out)
			if err != nil {
				return v, false, err
			}
			if changed {
				if !cp.IsValid() {
					cp = reflect.New(t).Elem()
					cp.Set(v)
				}
				cp.Field(i).Set(fv)
			}
		}
		if cp.IsValid() {
			return cp, true, nil
		}
		return v, false, nil
	case reflect.Slice, reflect.Array:
		var cp reflect.Value
		for i := range v.Len() {
			ev, changed, err := stripHandles(v.Index(i), append(path[:len(path):len(path)], i), where+"["+strconv.Itoa(i)+"]", out)
			if err != nil {
				return v, false, err
			}
			if changed {
				if !cp.IsValid() {
					if t.Kind() == reflect.Slice {
						cp = reflect.MakeSlice(t, v.Len(), v.Len())
						reflect.Copy(cp, v)
					} else {
						cp = reflect.New(t).Elem()
						cp.Set(v)
					}
				}
				cp.Index(i).Set(ev)
			}
		}
		if cp.IsValid() {
			return cp, true, nil
		}
		return v, false, nil
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			_, kc, err := stripHandles(iter.Key(), nil, where, &outHandles{})
			if err == nil {
				var vc bool
				_, vc, err = stripHandles(iter.Value(), nil, where, &outHandles{})
				kc = kc || vc
			}
			if err != nil {
				return v, false, err
			}
			if kc {
				return v, false, fmt.Errorf("%w: %s: handles inside a map cannot be passed; use a struct field or a slice", ErrEncode, where)
			}
		}
	}
	return v, false, nil
}

// addHandle duplicates the descriptor of the handle h and records it at path.
func addHandle(h reflect.Value, path []int, where string, out *outHandles) error {
	if len(out.fds) >= sys.MaxFDs {
		return fmt.Errorf("%w: %s: more than %d handles in one message", ErrEncode, where, sys.MaxFDs)
	}
	ref := handleRef{Path: path}
	var fd int
	var err error
	switch x := h.Interface().(type) {
	case handle:
		var fds []int
		fds, ref.Meta, err = x.handleDup()
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %w", ErrEncode, where, h.Type(), err)
		}
		ref.Kind = "mp"
		if len(fds) > 1 {
			ref.N = len(fds)
		}
		out.refs = append(out.refs, ref)
		out.fds = append(out.fds, fds...)
		return nil
	case *os.File:
		ref.Kind, ref.Meta = "file", x.Name()
		fd, err = dupConn(x)
	case syscall.Conn:
		k := handlekind.ForType(h.Type())
		if k == nil {
			return fmt.Errorf("%w: %s: a %s cannot be passed to another process; for network connections and listeners import _ \"github.com/mp-go/mp/mpnet\"", ErrEncode, where, h.Type())
		}
		ref.Kind = k.Name
		fd, err = dupConn(x)
	default:
		return fmt.Errorf("%w: %s: a %s cannot be passed to another process", ErrEncode, where, h.Type())
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %s: %w", ErrEncode, where, h.Type(), err)
	}
	out.refs = append(out.refs, ref)
	out.fds = append(out.fds, fd)
	return nil
}

// dupConn duplicates the descriptor of c; it fails when c is closed.
func dupConn(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	err = rc.Control(func(fd uintptr) { nfd, derr = sys.DupFD(int(fd)) })
	if err == nil {
		err = notSupported(derr)
	}
	if err != nil {
		return -1, fmt.Errorf("its descriptor cannot be duplicated (was it closed before it was sent?): %w", err)
	}
	return nfd, nil
}

// hasHandles reports whether b, encoded by encodeArg, carries handles.
func hasHandles(b []byte) bool {
	return len(b) >= len(handleTagPrefix) && string(b[:len(handleTagPrefix)]) == string(handleTagPrefix)
}

// decodeArg decodes b, encoded by encodeArg, into *v, building its handles over fds. It owns fds:
// those it does not use are closed, also on error.
func decodeArg[T any](what string, b []byte, fds []int, v *T) error {
	return decodeArgWith(codecDec, what, b, fds, v)
}

// decodeArgWith is decodeArg with the codec's mode dm. The envelope comes from another process
// and is checked before any descriptor is used: the counts it announces must add up to the
// descriptors that arrived (more are closed, fewer is an ErrProtocol error), and every handle
// must fit its position. On any error, the descriptors are closed, and the handles already built
// are let go of again and *v is reset to its zero value.
func decodeArgWith[T any](dm cbor.DecMode, what string, b []byte, fds []int, v *T) (err error) {
	if !hasHandles(b) {
		closeFDs(fds)
		return decodeValueWith(dm, what, b, v)
	}
	used := 0
	var built []any
	defer func() {
		closeFDs(fds[used:])
		if err != nil && len(built) > 0 {
			for _, h := range built {
				releaseHandle(h)
			}
			var zero T
			*v = zero // no handle that was let go is left in it
		}
	}()
	var tag cbor.RawTag
	var env envelope
	if err := dm.Unmarshal(b, &tag); err != nil || tag.Number != handleTag {
		return fmt.Errorf("%w: %s: malformed handle envelope", ErrDecode, what)
	}
	if err := dm.Unmarshal(tag.Content, &env); err != nil {
		return fmt.Errorf("%w: %s: malformed handle envelope: %v", ErrDecode, what, err)
	}
	need := 0
	for _, ref := range env.Refs {
		if ref.N < 0 || ref.N > sys.MaxFDs {
			return fmt.Errorf("%w: %s: a handle of %d descriptors (at most %d travel in one message)", ErrProtocol, what, ref.N, sys.MaxFDs)
		}
		need += max(ref.N, 1)
		if need > len(fds) {
			return fmt.Errorf("%w: %s carries %d descriptors or more, but %d arrived", ErrProtocol, what, need, len(fds))
		}
	}
	if err := decodeValueWith(dm, what, env.Value, v); err != nil {
		return err
	}
	root := reflect.ValueOf(v).Elem()
	for _, ref := range env.Refs {
		n := max(ref.N, 1)
		hfds := fds[used : used+n]
		used += n
		h, err := fillHandle(root, ref, hfds)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrDecode, what, err)
		}
		built = append(built, h)
	}
	return nil
}

// releaseHandle lets go of a handle built by fillHandle that will not be delivered: it closes
// this process's copy, and nothing the other processes holding it see (a Queue is not closed,
// only unmapped here).
func releaseHandle(h any) {
	if r, ok := h.(interface{ handleRelease() }); ok {
		r.handleRelease()
		return
	}
	if c, ok := h.(interface{ Close() error }); ok {
		c.Close()
	}
}

// fillHandle builds the handle described by ref over fds (which it owns), stores it at ref's
// position under root, and returns it.
func fillHandle(root reflect.Value, ref handleRef, fds []int) (any, error) {
	slot, err := findSlot(root, ref)
	if err != nil {
		closeFDs(fds)
		return nil, err
	}
	if ref.Kind == bulkKind {
		return nil, fillBulk(slot, ref, fds)
	}
	st := slot.Type()
	if ref.Kind == "mp" {
		h, ok := reflect.Zero(st).Interface().(handle)
		if !ok {
			closeFDs(fds)
			return nil, fmt.Errorf("a %q arrived where the receiver has a %s", ref.Meta, st)
		}
		val, err := h.handleAdopt(fds, ref.Meta)
		if err != nil {
			return nil, err
		}
		return assignHandle(slot, val)
	}
	closeFDs(fds[1:])
	fd := fds[0]
	var val any
	switch ref.Kind {
	case "file":
		val = os.NewFile(uintptr(fd), ref.Meta)
	default:
		k := handlekind.ByName(ref.Kind)
		if k == nil {
			sys.CloseFD(fd)
			return nil, fmt.Errorf("a %q arrived, and this process cannot open one (import _ \"github.com/mp-go/mp/mpnet\")", ref.Kind)
		}
		val, err = k.Open(os.NewFile(uintptr(fd), ref.Kind))
	}
	if err != nil {
		return nil, err
	}
	return assignHandle(slot, val)
}

// assignHandle stores the handle val in slot, or lets it go if it does not fit there.
func assignHandle(slot reflect.Value, val any) (any, error) {
	if val == nil {
		return nil, fmt.Errorf("a handle arrived that could not be opened as a %s", slot.Type())
	}
	rv := reflect.ValueOf(val)
	if !rv.Type().AssignableTo(slot.Type()) {
		releaseHandle(val)
		return nil, fmt.Errorf("a %s arrived where the receiver has a %s", rv.Type(), slot.Type())
	}
	slot.Set(rv)
	return val, nil
}

// findSlot follows ref's path from root.
func findSlot(root reflect.Value, ref handleRef) (reflect.Value, error) {
	slot := root
	for _, step := range ref.Path {
		for slot.Kind() == reflect.Pointer {
			if slot.IsNil() {
				return slot, errors.New("handle position under a nil pointer")
			}
			slot = slot.Elem()
		}
		switch slot.Kind() {
		case reflect.Struct:
			if step < 0 || step >= slot.NumField() {
				return slot, errors.New("handle position out of range")
			}
			slot = slot.Field(step)
		case reflect.Slice, reflect.Array:
			if step < 0 || step >= slot.Len() {
				return slot, errors.New("handle position out of range")
			}
			slot = slot.Index(step)
		default:
			return slot, fmt.Errorf("handle position inside a %s", slot.Type())
		}
	}
	if !slot.CanSet() {
		return slot, fmt.Errorf("handle position %v cannot be set", ref.Path)
	}
	return slot, nil
}

// closeFDs closes descriptors owned by a message that was not (fully) delivered.
func closeFDs(fds []int) {
	for _, fd := range fds {
		sys.CloseFD(fd)
	}
}

// fdWriter writes to a Unix socket with descriptors attached to the first write.
type fdWriter struct {
	f   *os.File
	fds []int
}

func (w fdWriter) Write(b []byte) (int, error) {
	if err := sys.WriteWithFDs(w.f, b, w.fds); err != nil {
		return 0, notSupported(err)
	}
	return len(b), nil
}
