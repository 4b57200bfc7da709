package mp

import (
	"context"
	"fmt"
	"reflect"

	"github.com/mp-go/mp/internal/shmtable"
)

// Dict is a map held by a Manager: Python's Manager().dict(), typed. Every method that talks to
// the manager takes ctx first; each is atomic. Keys and values travel by
// value (the codec's rules, as task arguments), so Get returns a copy: changing what it returned
// changes nothing in the manager until it is Set back — Python's d["k"].append(x), which
// silently changes a copy, is visibly a copy here. To change a value in place atomically, use
// Update (a registered function run in the manager), Add, or CompareAndSwap with the revision
// GetRev returns. Every stored value carries a revision, which grows with every write to the
// dict.
//
// Cost. On Linux the dict's entries live in shared memory (a sealed memfd) that the manager
// creates with the dict and hands, by descriptor, to each process that uses it (one round trip,
// on the process's first operation on the dict): from then on Get, Set, CompareAndSwap, Delete,
// Len, Keys, Items, Clear, GetMany, SetMany, Add and Update run in the calling process, under
// the dict's robust lock, with no round trip — about 0.5 µs for a small entry, against 15 to
// 25 µs through the manager's socket. A process killed holding the lock is recovered from by the
// next operation (the dict holds every operation that completed, and the killed one whole or not
// at all); no operation reports it. Operations on an entry whose value holds proxies, and writes
// of such values, go to the manager, which counts the references. Elsewhere (macOS), every
// operation is one round trip. Every dict holds at most 1 GiB (keys, values and bookkeeping; see
// WithDictMaxSize) and one entry at most 64 MiB: beyond either, writes fail with ErrTooLarge.
// Once the manager is gone, every operation fails with ErrManagerDead (or ErrClosed after
// Shutdown or Close), though the memory lives on in this process: the manager's exit is watched
// by one goroutine per process, and each operation checks it with one atomic load.
//
// A value may hold proxies (a *Dict, *List, ... of the same manager): the manager stores a
// reference, which keeps the object alive, and reading the value back gives live proxies.
// Cycles of references are not collected while they last.
//
// A *Dict is safe for concurrent use. It may be passed to other processes in task arguments,
// over a Conn or on a Queue (it is data: see Manager); each process holding it counts as one
// reference. Close lets go of this proxy's reference. A nil, zero or closed Dict returns
// errors wrapping ErrClosed.
type Dict[K comparable, V any] struct{ p *proxyBase }

const dictKind = "dict"

// NewDict creates an empty Dict in the manager m.
func NewDict[K comparable, V any](ctx context.Context, m *Manager) (*Dict[K, V], error) {
	p, err := m.create(ctx, dictKind)
	if err != nil {
		return nil, err
	}
	d := &Dict[K, V]{p: p}
	watch(d, p)
	return d, nil
}

// create makes an object of kind in the manager, held by this process's connection.
func (m *Manager) create(ctx context.Context, kind string) (*proxyBase, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	rep, err := m.c.call(ctx, managerOpCreate, &mreq{Name: kind})
	if err != nil {
		return nil, err
	}
	return newProxyBase(m.c, kind, uint64(rep.N)), nil
}

func (d *Dict[K, V]) base() *proxyBase {
	if d == nil {
		return nil
	}
	return d.p
}

func (d *Dict[K, V]) call(ctx context.Context, op byte, req *mreq) (mrep, error) {
	return d.base().call(ctx, "mp.Dict", op, req)
}

// local returns the dict's table when this process may use it directly (see
// manager_table_client.go), nil when the operation goes to the manager.
func (d *Dict[K, V]) local(ctx context.Context) (*shmtable.Table, error) {
	p := d.base()
	if err := p.check("mp.Dict"); err != nil {
		return nil, err
	}
	return p.table(ctx)
}

// Get returns a copy of the value stored under k, and whether there is one.
func (d *Dict[K, V]) Get(ctx context.Context, k K) (V, bool, error) {
	v, _, ok, err := d.GetRev(ctx, k)
	return v, ok, err
}

// GetRev is Get that also returns the value's revision, for CompareAndSwap.
func (d *Dict[K, V]) GetRev(ctx context.Context, k K) (v V, rev uint64, ok bool, err error) {
	kb, err := managerEncode("a Dict key", k)
	if err != nil {
		return v, 0, false, err
	}
	t, err := d.local(ctx)
	if err != nil {
		return v, 0, false, err
	}
	if t != nil {
		val, rev, ok, err := tableGet(ctx, t, kb)
		if err != errTableFallback {
			if err != nil || !ok {
				return v, 0, false, err
			}
			v, err = managerDecoded[V]("a Dict value", val)
			return v, rev, err == nil, err
		}
	}
	rep, err := d.call(ctx, managerOpGet, &mreq{Key: kb})
	if err != nil || !rep.OK {
		return v, 0, false, err
	}
	v, err = managerDecoded[V]("a Dict value", rep.Val)
	return v, rep.Rev, err == nil, err
}

// Set stores a copy of v under k.
func (d *Dict[K, V]) Set(ctx context.Context, k K, v V) error {
	kb, vb, err := encodeKV(k, v)
	if err != nil {
		return err
	}
	t, err := d.local(ctx)
	if err != nil {
		return err
	}
	if t != nil {
		if _, err := tableSet(ctx, t, kb, vb); err != errTableFallback {
			return err
		}
	}
	_, err = d.call(ctx, managerOpSet, &mreq{Key: kb, Val: vb})
	return err
}

func encodeKV[K, V any](k K, v V) ([]byte, []byte, error) {
	kb, err := managerEncode("a Dict key", k)
	if err != nil {
		return nil, nil, err
	}
	vb, err := managerEncode("a Dict value", v)
	return kb, vb, err
}

// CompareAndSwap stores v under k if the value there still has revision rev (0: if there is no
// value), and returns the new revision and true; otherwise it stores nothing and returns the
// current revision (0 when there is no value) and false.
func (d *Dict[K, V]) CompareAndSwap(ctx context.Context, k K, rev uint64, v V) (uint64, bool, error) {
	kb, vb, err := encodeKV(k, v)
	if err != nil {
		return 0, false, err
	}
	t, err := d.local(ctx)
	if err != nil {
		return 0, false, err
	}
	if t != nil {
		if nrev, ok, err := tableCAS(ctx, t, kb, vb, rev); err != errTableFallback {
			return nrev, ok, err
		}
	}
	rep, err := d.call(ctx, managerOpCAS, &mreq{Key: kb, Val: vb, Rev: rev})
	return rep.Rev, rep.OK, err
}

// Delete removes the value under k and reports whether there was one.
func (d *Dict[K, V]) Delete(ctx context.Context, k K) (bool, error) {
	kb, err := managerEncode("a Dict key", k)
	if err != nil {
		return false, err
	}
	t, err := d.local(ctx)
	if err != nil {
		return false, err
	}
	if t != nil {
		if found, err := tableDelete(ctx, t, kb); err != errTableFallback {
			return found, err
		}
	}
	rep, err := d.call(ctx, managerOpDelete, &mreq{Key: kb})
	return rep.OK, err
}

// Len returns the number of keys.
func (d *Dict[K, V]) Len(ctx context.Context) (int, error) {
	t, err := d.local(ctx)
	if err != nil {
		return 0, err
	}
	if t != nil {
		n, err := t.Len(ctx)
		if err = tableErrOf(t, err); err != errTableFallback {
			return n, err
		}
	}
	rep, err := d.call(ctx, managerOpLen, &mreq{})
	return int(rep.N), err
}

// Keys returns the keys, in no particular order (as a Go map's).
func (d *Dict[K, V]) Keys(ctx context.Context) ([]K, error) {
	t, err := d.local(ctx)
	if err != nil {
		return nil, err
	}
	var rep mrep
	if t != nil {
		err = tableEach(ctx, t, false, func(k, _ []byte) { rep.Keys = append(rep.Keys, append([]byte(nil), k...)) })
	}
	if t == nil || err == errTableFallback {
		rep, err = d.call(ctx, managerOpKeys, &mreq{})
	}
	if err != nil {
		return nil, err
	}
	keys := make([]K, len(rep.Keys))
	for i, kb := range rep.Keys {
		if err := managerDecode("a Dict key", kb, &keys[i]); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// Items returns a copy of the whole map, taken atomically.
func (d *Dict[K, V]) Items(ctx context.Context) (map[K]V, error) {
	t, err := d.local(ctx)
	if err != nil {
		return nil, err
	}
	var rep mrep
	if t != nil {
		err = tableEach(ctx, t, true, func(k, v []byte) {
			rep.Keys = append(rep.Keys, append([]byte(nil), k...))
			rep.Vals = append(rep.Vals, append([]byte(nil), v...))
		})
	}
	if t == nil || err == errTableFallback {
		rep, err = d.call(ctx, managerOpItems, &mreq{})
	}
	if err != nil {
		return nil, err
	}
	if len(rep.Keys) != len(rep.Vals) {
		return nil, fmt.Errorf("%w: Items: %d keys and %d values", ErrProtocol, len(rep.Keys), len(rep.Vals))
	}
	out := make(map[K]V, len(rep.Keys))
	for i, kb := range rep.Keys {
		var k K
		var v V
		if err := managerDecode("a Dict key", kb, &k); err != nil {
			return nil, err
		}
		if err := managerDecode("a Dict value", rep.Vals[i], &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// Clear removes every key.
func (d *Dict[K, V]) Clear(ctx context.Context) error {
	t, err := d.local(ctx)
	if err != nil {
		return err
	}
	if t != nil {
		if err := tableClear(ctx, t); err != errTableFallback {
			return err
		}
	}
	_, err = d.call(ctx, managerOpClear, &mreq{})
	return err
}

// GetMany returns copies of the values under keys that have one, taken atomically: in one
// round trip (one frame each way), or where the dict is in shared memory, under one taking of
// its lock.
func (d *Dict[K, V]) GetMany(ctx context.Context, keys []K) (map[K]V, error) {
	kbs := make([][]byte, len(keys))
	var buf []byte
	for i, k := range keys {
		n := len(buf)
		var err error
		if buf, err = appendEncoded(buf, "a Dict key", k); err != nil {
			return nil, err
		}
		kbs[i] = buf[n:]
	}
	rebase(buf, kbs)
	t, err := d.local(ctx)
	if err != nil {
		return nil, err
	}
	if t != nil {
		if out, err := tableGetMany[K, V](ctx, t, keys, kbs); err != errTableFallback {
			return out, err
		}
	}
	rep, err := d.call(ctx, managerOpGetMany, &mreq{Keys: kbs})
	if err != nil {
		return nil, err
	}
	if len(rep.Revs) != len(keys) || len(rep.Vals) != len(keys) {
		return nil, fmt.Errorf("%w: GetMany of %d keys: %d values and %d revisions", ErrProtocol, len(keys), len(rep.Vals), len(rep.Revs))
	}
	out := make(map[K]V, len(keys))
	for i, k := range keys {
		if rep.Revs[i] == 0 {
			continue // absent
		}
		v, err := managerDecoded[V]("a Dict value", rep.Vals[i])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// appendEncoded appends the encoding of v (a key or a value: see managerEncode) to buf.
func appendEncoded[T any](buf []byte, what string, v T) ([]byte, error) {
	if b, ok := appendBasic(buf, v); ok {
		return b, nil
	}
	b, err := managerEncode(what, v)
	return append(buf, b...), err
}

// rebase points the non-nil slices of bs, whose lengths are those of consecutive parts of buf
// taken while buf grew, at those parts of buf's final array; each is capped at its length.
func rebase(buf []byte, bs [][]byte) {
	off := 0
	for i, b := range bs {
		if b != nil {
			n := len(b)
			bs[i] = buf[off : off+n : off+n]
			off += n
		}
	}
}

// SetMany stores every key and value of kv atomically: in one round trip (one frame each way),
// or where the dict is in shared memory, under one taking of its lock.
func (d *Dict[K, V]) SetMany(ctx context.Context, kv map[K]V) error {
	// Every key, then its value behind the table's flag byte, in one buffer: bs holds them in
	// that order.
	bs := make([][]byte, 2*len(kv))
	var buf []byte
	i := 0
	for k, v := range kv {
		n := len(buf)
		var err error
		if buf, err = appendEncoded(buf, "a Dict key", k); err != nil {
			return err
		}
		bs[i], n = buf[n:], len(buf)
		if buf, err = appendEncoded(append(buf, tableFlagPlain), "a Dict value", v); err != nil {
			return err
		}
		bs[i+1] = buf[n:]
		i += 2
	}
	rebase(buf, bs)
	kbs, fvs := make([][]byte, len(kv)), make([][]byte, len(kv))
	for i := range kbs {
		kbs[i], fvs[i] = bs[2*i], bs[2*i+1]
	}
	t, err := d.local(ctx)
	if err != nil {
		return err
	}
	if t != nil {
		if err := tableSetMany(ctx, t, kbs, fvs); err != errTableFallback {
			return err
		}
	}
	vals := make([][]byte, len(fvs))
	for i, fv := range fvs {
		vals[i] = fv[1:]
	}
	_, err = d.call(ctx, managerOpSetMany, &mreq{Keys: kbs, Vals: vals})
	return err
}

// Close lets go of this proxy's reference to the dict (see Manager). It is idempotent and does
// nothing on a nil Dict.
func (d *Dict[K, V]) Close() error {
	d.base().close()
	return nil
}

// String describes the proxy: "mp.Dict(7)", with the object's id.
func (d *Dict[K, V]) String() string { return d.base().String("mp.Dict") }

// MarshalCBOR encodes the proxy (the manager's address and token, the object's id), for
// another process; it fails on a nil, zero or closed Dict.
func (d *Dict[K, V]) MarshalCBOR() ([]byte, error) { return d.base().marshal("mp.Dict") }

// UnmarshalCBOR rebuilds a proxy encoded by MarshalCBOR; this process connects to the manager
// on its first call.
func (d *Dict[K, V]) UnmarshalCBOR(b []byte) error {
	p, err := unmarshalProxy("mp.Dict", dictKind, b)
	if err != nil {
		return err
	}
	d.p = p
	watch(d, p)
	return nil
}

// Update runs the registered fn atomically on the value under key (see RegisterUpdate) with
// arg, stores what it returns, and returns that: Python's with lock: d[k] = f(d[k], arg),
// without the lock and without a lost update. An error of fn stores nothing and is returned with
// its identity.
//
// Where the dict is in shared memory (Linux: see Dict), fn runs in the calling process, under
// the dict's lock, which every other operation on the dict takes too: as atomic as in the
// manager, and the process is the same binary, with the same registry. (If the value under key
// holds proxies, or fn returns one that may, fn has run for nothing and runs again in the
// manager, which counts the references: keep fn free of side effects.) Elsewhere, and for a
// value that holds proxies, fn runs in the manager.
func Update[K comparable, V, A any](ctx context.Context, d *Dict[K, V], key K, fn *UpdateFunc[V, A], arg A) (V, error) {
	var zero V
	if fn == nil {
		return zero, fmt.Errorf("%w: Update with a nil *UpdateFunc", ErrNotRegistered)
	}
	kb, err := managerEncode("a Dict key", key)
	if err != nil {
		return zero, err
	}
	ab, err := managerEncode("the argument of "+fn.name, arg)
	if err != nil {
		return zero, err
	}
	t, err := d.local(ctx)
	if err != nil {
		return zero, err
	}
	if t != nil {
		if val, err := tableUpdate(ctx, t, kb, fn, fn.name, ab); err != errTableFallback {
			if err != nil {
				return zero, err
			}
			var v V
			err = managerDecode("a Dict value", val, &v)
			return v, err
		}
	}
	rep, err := d.call(ctx, managerOpUpdate, &mreq{Key: kb, Name: fn.name, Val: ab})
	if err != nil {
		return zero, err
	}
	var v V
	err = managerDecode("a Dict value", rep.Val, &v)
	return v, err
}

// Add adds delta to the number under key (0 when there is none) atomically in the manager and
// returns the sum: Python's d[k] += delta, without the lost update. Integers wrap as Go's do.
func Add[K comparable, V Number](ctx context.Context, d *Dict[K, V], key K, delta V) (V, error) {
	kb, err := managerEncode("a Dict key", key)
	if err != nil {
		return 0, err
	}
	if t, err := d.local(ctx); err != nil {
		return 0, err
	} else if t != nil {
		kind, bits, db, err := addArgs(delta)
		if err != nil {
			return 0, err
		}
		var sum []byte
		err = tableWrite(ctx, t, kb, func(tx *shmtable.Tx, cur []byte, _ uint64, _ bool) (err error) {
			if sum, err = addNumbers(cur, db, kind, bits); err != nil {
				return err
			}
			_, err = tx.Set(kb, plainValue(sum))
			return err
		})
		if err != errTableFallback {
			if err != nil {
				return 0, err
			}
			var v V
			err = managerDecode("the sum of Add", sum, &v)
			return v, err
		}
	}
	return addCall(ctx, d.base(), "mp.Dict", kb, delta)
}

// addArgs encodes Add's delta and names its kind of number and bit size.
func addArgs[V Number](delta V) (kind string, bits int, db []byte, err error) {
	db, err = managerEncode("the delta of Add", delta)
	if err != nil {
		return "", 0, nil, err
	}
	t := reflect.TypeFor[V]()
	kind = "int"
	switch t.Kind() {
	case reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		kind = "uint"
	case reflect.Float32, reflect.Float64:
		kind = "float"
	}
	return kind, t.Bits(), db, nil
}

func addCall[V Number](ctx context.Context, p *proxyBase, what string, kb []byte, delta V) (V, error) {
	kind, bits, db, err := addArgs(delta)
	if err != nil {
		return 0, err
	}
	rep, err := p.call(ctx, what, managerOpAdd, &mreq{Key: kb, Val: db, Name: kind, N: int64(bits)})
	if err != nil {
		return 0, err
	}
	var v V
	err = managerDecode("the sum of Add", rep.Val, &v)
	return v, err
}
