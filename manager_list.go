package mp

import "context"

// List is a slice held by a Manager: Python's Manager().list(), typed. Every method that talks
// to the manager takes ctx first; each is one round trip and atomic. Values travel by value, so
// Index and Slice return copies (see Dict: changing a copy changes nothing in the manager). An
// index outside the list is an error wrapping ErrOutOfRange. Values may hold proxies of the same
// manager, as a Dict's may.
//
// A *List is safe for concurrent use and may be passed to other processes as a Dict may. A nil,
// zero or closed List returns errors wrapping ErrClosed.
type List[T any] struct{ p *proxyBase }

const listKind = "list"

// NewList creates a List in the manager m holding copies of xs.
func NewList[T any](ctx context.Context, m *Manager, xs ...T) (*List[T], error) {
	p, err := m.create(ctx, listKind)
	if err != nil {
		return nil, err
	}
	l := &List[T]{p: p}
	watch(l, p)
	if len(xs) > 0 {
		if _, err := l.Append(ctx, xs...); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *List[T]) base() *proxyBase {
	if l == nil {
		return nil
	}
	return l.p
}

func (l *List[T]) call(ctx context.Context, op byte, req *mreq) (mrep, error) {
	return l.base().call(ctx, "mp.List", op, req)
}

// Append appends copies of xs, atomically, and returns the new length.
func (l *List[T]) Append(ctx context.Context, xs ...T) (int, error) {
	req := &mreq{Vals: make([][]byte, len(xs))}
	for i, x := range xs {
		b, err := managerEncode("a List value", x)
		if err != nil {
			return 0, err
		}
		req.Vals[i] = b
	}
	rep, err := l.call(ctx, managerOpAppend, req)
	return int(rep.N), err
}

// Index returns a copy of the value at index i.
func (l *List[T]) Index(ctx context.Context, i int) (T, error) {
	var v T
	rep, err := l.call(ctx, managerOpIndex, &mreq{N: int64(i)})
	if err != nil {
		return v, err
	}
	err = managerDecode("a List value", rep.Val, &v)
	return v, err
}

// SetIndex stores a copy of v at index i.
func (l *List[T]) SetIndex(ctx context.Context, i int, v T) error {
	b, err := managerEncode("a List value", v)
	if err != nil {
		return err
	}
	_, err = l.call(ctx, managerOpSetIndex, &mreq{N: int64(i), Val: b})
	return err
}

// Pop removes the last value and returns it; on an empty list it is an error wrapping
// ErrOutOfRange.
func (l *List[T]) Pop(ctx context.Context) (T, error) {
	var v T
	rep, err := l.call(ctx, managerOpPop, &mreq{})
	if err != nil {
		return v, err
	}
	err = managerDecode("a List value", rep.Val, &v)
	return v, err
}

// Len returns the length of the list.
func (l *List[T]) Len(ctx context.Context) (int, error) {
	rep, err := l.call(ctx, managerOpLen, &mreq{})
	return int(rep.N), err
}

// Slice returns a copy of the whole list, taken atomically.
func (l *List[T]) Slice(ctx context.Context) ([]T, error) {
	rep, err := l.call(ctx, managerOpSlice, &mreq{})
	if err != nil {
		return nil, err
	}
	out := make([]T, len(rep.Vals))
	for i, b := range rep.Vals {
		if err := managerDecode("a List value", b, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Clear removes every value.
func (l *List[T]) Clear(ctx context.Context) error {
	_, err := l.call(ctx, managerOpClear, &mreq{})
	return err
}

// Close lets go of this proxy's reference to the list (see Manager). It is idempotent and does
// nothing on a nil List.
func (l *List[T]) Close() error {
	l.base().close()
	return nil
}

// String describes the proxy: "mp.List(7)", with the object's id.
func (l *List[T]) String() string { return l.base().String("mp.List") }

// MarshalCBOR encodes the proxy for another process; it fails on a nil, zero or closed List.
func (l *List[T]) MarshalCBOR() ([]byte, error) { return l.base().marshal("mp.List") }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR.
func (l *List[T]) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy("mp.List", listKind, b)
	if err != nil {
		return err
	}
	l.p = p
	watch(l, p)
	return nil
}
