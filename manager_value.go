package mp

import (
	"context"
	"fmt"
	"reflect"
)

// ManagedValue is one value held by a Manager: Python's Manager().Value(typecode, v), typed
// (mp.Value is the shared-memory one). Load returns a copy; Store, CompareAndSwap (by revision),
// AddValue and UpdateValue change it atomically. It is safe for concurrent use and may be passed
// to other processes as a Dict may; a nil, zero or closed one returns errors wrapping ErrClosed.
type ManagedValue[T any] struct{ p *proxyBase }

const valueKind = "value"

// NewManagedValue creates a ManagedValue holding a copy of v in the manager m.
func NewManagedValue[T any](ctx context.Context, m *Manager, v T) (*ManagedValue[T], error) {
	p, err := m.create(ctx, valueKind)
	if err != nil {
		return nil, err
	}
	mv := &ManagedValue[T]{p: p}
	watch(mv, p)
	if err := mv.Store(ctx, v); err != nil {
		mv.Close()
		return nil, err
	}
	return mv, nil
}

func (mv *ManagedValue[T]) base() *proxyBase {
	if mv == nil {
		return nil
	}
	return mv.p
}

// Load returns a copy of the value.
func (mv *ManagedValue[T]) Load(ctx context.Context) (T, error) {
	v, _, err := mv.LoadRev(ctx)
	return v, err
}

// LoadRev returns a copy of the value and its revision, for CompareAndSwap.
func (mv *ManagedValue[T]) LoadRev(ctx context.Context) (T, uint64, error) {
	var v T
	rep, err := mv.base().call(ctx, "mp.ManagedValue", managerOpGet, &mreq{})
	if err != nil {
		return v, 0, err
	}
	if rep.OK {
		err = managerDecode("a ManagedValue", rep.Val, &v)
	}
	return v, rep.Rev, err
}

// Store replaces the value with a copy of v.
func (mv *ManagedValue[T]) Store(ctx context.Context, v T) error {
	b, err := managerEncode("a ManagedValue", v)
	if err != nil {
		return err
	}
	_, err = mv.base().call(ctx, "mp.ManagedValue", managerOpSet, &mreq{Val: b})
	return err
}

// CompareAndSwap stores v if the value still has revision rev, and returns the new revision and
// true; otherwise it returns the current revision and false.
func (mv *ManagedValue[T]) CompareAndSwap(ctx context.Context, rev uint64, v T) (uint64, bool, error) {
	b, err := managerEncode("a ManagedValue", v)
	if err != nil {
		return 0, false, err
	}
	rep, err := mv.base().call(ctx, "mp.ManagedValue", managerOpCAS, &mreq{Val: b, Rev: rev})
	return rep.Rev, rep.OK, err
}

// AddValue adds delta to the number held by mv atomically in the manager and returns the sum.
func AddValue[T Number](ctx context.Context, mv *ManagedValue[T], delta T) (T, error) {
	return addCall(ctx, mv.base(), "mp.ManagedValue", nil, delta)
}

// UpdateValue runs the registered fn atomically in the manager on the value held by mv (see
// RegisterUpdate), stores what it returns, and returns that.
func UpdateValue[T, A any](ctx context.Context, mv *ManagedValue[T], fn *UpdateFunc[T, A], arg A) (T, error) {
	var zero T
	if fn == nil {
		return zero, fmt.Errorf("%w: UpdateValue with a nil *UpdateFunc", ErrNotRegistered)
	}
	ab, err := managerEncode("the argument of "+fn.name, arg)
	if err != nil {
		return zero, err
	}
	rep, err := mv.base().call(ctx, "mp.ManagedValue", managerOpUpdate, &mreq{Name: fn.name, Val: ab})
	if err != nil {
		return zero, err
	}
	var v T
	err = managerDecode("a ManagedValue", rep.Val, &v)
	return v, err
}

// Close lets go of this proxy's reference (see Manager). It is idempotent and does nothing on a
// nil ManagedValue.
func (mv *ManagedValue[T]) Close() error {
	mv.base().close()
	return nil
}

// String describes the proxy: "mp.ManagedValue(7)", with the object's id.
func (mv *ManagedValue[T]) String() string { return mv.base().String("mp.ManagedValue") }

// MarshalCBOR encodes the proxy for another process; it fails on a nil, zero or closed one.
func (mv *ManagedValue[T]) MarshalCBOR() ([]byte, error) {
	return mv.base().marshal("mp.ManagedValue")
}

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (mv *ManagedValue[T]) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy("mp.ManagedValue", valueKind, b)
	if err != nil {
		return err
	}
	mv.p = p
	watch(mv, p)
	return nil
}

// Namespace is a struct held by a Manager, field by field: Python's Manager().Namespace(), with
// S's exported fields as its attributes. Get returns a copy of the whole struct, Field one
// field's value; Set and SetField change them, each atomically. It is safe for concurrent use and
// may be passed to other processes as a Dict may; a nil, zero or closed one returns errors
// wrapping ErrClosed.
type Namespace[S any] struct{ p *proxyBase }

const namespaceKind = "namespace"

// NewNamespace creates a Namespace in the manager m holding the exported fields of init. S must
// be a struct type.
func NewNamespace[S any](ctx context.Context, m *Manager, init S) (*Namespace[S], error) {
	if reflect.TypeFor[S]().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: NewNamespace of a %s: a Namespace holds a struct's fields", ErrInvalidOption, reflect.TypeFor[S]())
	}
	p, err := m.create(ctx, namespaceKind)
	if err != nil {
		return nil, err
	}
	ns := &Namespace[S]{p: p}
	watch(ns, p)
	if err := ns.Set(ctx, init); err != nil {
		ns.Close()
		return nil, err
	}
	return ns, nil
}

func (ns *Namespace[S]) base() *proxyBase {
	if ns == nil {
		return nil
	}
	return ns.p
}

// field returns S's exported field name, or an error naming the fields there are.
func (ns *Namespace[S]) field(name string) (reflect.StructField, error) {
	t := reflect.TypeFor[S]()
	f, ok := t.FieldByName(name)
	if !ok || !f.IsExported() || len(f.Index) != 1 {
		var names []string
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				names = append(names, t.Field(i).Name)
			}
		}
		return f, fmt.Errorf("%w: %s has no exported field %q (its fields: %v)", ErrInvalidOption, t, name, names)
	}
	return f, nil
}

// Set replaces every exported field with a copy of s's, atomically.
func (ns *Namespace[S]) Set(ctx context.Context, s S) error {
	v := reflect.ValueOf(s)
	t := v.Type()
	req := &mreq{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		b, err := managerEncode("field "+f.Name, v.Field(i).Interface())
		if err != nil {
			return err
		}
		kb, _ := managerEncode("a field name", f.Name)
		req.Keys, req.Vals = append(req.Keys, kb), append(req.Vals, b)
	}
	_, err := ns.base().call(ctx, "mp.Namespace", managerOpSetMany, req)
	return err
}

// Get returns a copy of the struct, its fields read atomically.
func (ns *Namespace[S]) Get(ctx context.Context) (S, error) {
	var s S
	rep, err := ns.base().call(ctx, "mp.Namespace", managerOpItems, &mreq{})
	if err != nil {
		return s, err
	}
	if len(rep.Keys) != len(rep.Vals) {
		return s, fmt.Errorf("%w: Namespace.Get: %d names and %d values", ErrProtocol, len(rep.Keys), len(rep.Vals))
	}
	sv := reflect.ValueOf(&s).Elem()
	for i, kb := range rep.Keys {
		var name string
		if err := managerDecode("a field name", kb, &name); err != nil {
			return s, err
		}
		f, err := ns.field(name)
		if err != nil {
			continue // a field S no longer has
		}
		if err := managerDecodeInto("field "+name, rep.Vals[i], sv.FieldByIndex(f.Index).Addr().Interface()); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Field returns a copy of the value of the exported field name, of the field's type.
func (ns *Namespace[S]) Field(ctx context.Context, name string) (any, error) {
	f, err := ns.field(name)
	if err != nil {
		return nil, err
	}
	kb, _ := managerEncode("a field name", name)
	rep, err := ns.base().call(ctx, "mp.Namespace", managerOpGet, &mreq{Key: kb})
	if err != nil {
		return nil, err
	}
	p := reflect.New(f.Type)
	if rep.OK {
		if err := managerDecodeInto("field "+name, rep.Val, p.Interface()); err != nil {
			return nil, err
		}
	}
	return p.Elem().Interface(), nil
}

// SetField stores a copy of v as the exported field name; v must be assignable to the field's
// type.
func (ns *Namespace[S]) SetField(ctx context.Context, name string, v any) error {
	f, err := ns.field(name)
	if err != nil {
		return err
	}
	if v == nil && !canBeNil(f.Type) || v != nil && !reflect.TypeOf(v).AssignableTo(f.Type) {
		return fmt.Errorf("%w: SetField(%q) with a %T: the field is a %s", ErrInvalidOption, name, v, f.Type)
	}
	kb, _ := managerEncode("a field name", name)
	b, err := managerEncode("field "+name, v)
	if err != nil {
		return err
	}
	_, err = ns.base().call(ctx, "mp.Namespace", managerOpSet, &mreq{Key: kb, Val: b})
	return err
}

func canBeNil(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return true
	}
	return false
}

// managerDecodeInto decodes b into ptr, of a type known only at run time.
func managerDecodeInto(what string, b []byte, ptr any) error {
	if err := codecDec.Unmarshal(b, ptr); err != nil {
		return decodeError(what, reflect.TypeOf(ptr).Elem(), err)
	}
	return nil
}

// Close lets go of this proxy's reference (see Manager). It is idempotent and does nothing on a
// nil Namespace.
func (ns *Namespace[S]) Close() error {
	ns.base().close()
	return nil
}

// String describes the proxy: "mp.Namespace(7)", with the object's id.
func (ns *Namespace[S]) String() string { return ns.base().String("mp.Namespace") }

// MarshalCBOR encodes the proxy for another process; it fails on a nil, zero or closed one.
func (ns *Namespace[S]) MarshalCBOR() ([]byte, error) { return ns.base().marshal("mp.Namespace") }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (ns *Namespace[S]) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy("mp.Namespace", namespaceKind, b)
	if err != nil {
		return err
	}
	ns.p = p
	watch(ns, p)
	return nil
}
