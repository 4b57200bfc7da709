package mpnats

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/mp-go/mp"
	"github.com/mp-go/mp/internal/codec"
	"github.com/nats-io/nats.go/jetstream"
)

// Dict is a map shared by processes on any host connected to the cluster, on a JetStream
// key-value bucket: mp.Dict's API (Get, GetRev, Set, CompareAndSwap, Delete, Len, Keys, Items,
// and the package functions Update and Add), plus Watch. Every handle made with the same name on
// the same cluster is the same dict; a *Dict is safe for concurrent use. Keys and values travel
// by value, encoded with mp's codec, so Get returns a copy: change a value atomically with Update
// (a registered mp.UpdateFunc, run in the caller in a compare-and-swap loop), Add, or
// CompareAndSwap with the revision GetRev returns. Revisions are the bucket's: they grow with
// every write to the dict.
//
// A key is stored under the base64url text of its encoding (a JetStream key must be a subject
// token); one value is at most the server's message limit (1 MiB by default): beyond it a write is
// an mp.ErrTooLarge error. Items, Len and Keys read the bucket at one moment but not atomically
// with writes made meanwhile.
type Dict[K comparable, V any] struct {
	c    *Cluster
	name string
	kv   jetstream.KeyValue
}

// NewDict opens the dict called name on c, making it if it does not exist. name is 1 to 64
// letters, digits, '-' or '_'. K and V must be types whose values cross processes intact; a dict
// that exists with other key or value types is an mp.ErrInvalidOption error.
func NewDict[K comparable, V any](ctx context.Context, c *Cluster, name string) (*Dict[K, V], error) {
	if c == nil {
		return nil, fmt.Errorf("%w: mpnats.NewDict with a nil *Cluster", mp.ErrInvalidOption)
	}
	if err := checkName("NewDict", name); err != nil {
		return nil, err
	}
	if err := checkType[K]("mpnats.NewDict key"); err != nil {
		return nil, err
	}
	if err := checkType[V]("mpnats.NewDict value"); err != nil {
		return nil, err
	}
	types := reflect.TypeFor[K]().String() + " " + reflect.TypeFor[V]().String()
	bucket := "mpd-" + name
	kv, err := c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   bucket,
		History:  1,
		Storage:  jetstream.FileStorage,
		Metadata: map[string]string{metaKind: "dict", metaType: types},
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = c.js.KeyValue(ctx, bucket)
		if err == nil {
			var st jetstream.KeyValueStatus
			if st, err = kv.Status(ctx); err == nil {
				if t := st.Metadata()[metaType]; t != types {
					err = fmt.Errorf("%w: the dict exists with key and value types %q, not %q", mp.ErrInvalidOption, t, types)
				}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("mpnats: NewDict(%q): %w", name, err)
	}
	return &Dict[K, V]{c: c, name: name, kv: kv}, nil
}

func (d *Dict[K, V]) what(op string) string { return fmt.Sprintf("mpnats: Dict %q: %s", d.name, op) }

// key returns the bucket key of k.
func (d *Dict[K, V]) key(k K) (string, error) {
	b, err := encode("a Dict key", k)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeKey decodes a bucket key into a K.
func decodeKey[K any](s string) (K, error) {
	var k K
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return k, fmt.Errorf("%w: a Dict key %q that is not base64url: %v", mp.ErrDecode, s, err)
	}
	return k, decode("a Dict key", b, &k)
}

// getRaw returns the entry under key, or nil when there is none.
func (d *Dict[K, V]) getRaw(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	e, err := d.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.what("Get"), err)
	}
	return e, nil
}

// Get returns the value under k, and whether there is one.
func (d *Dict[K, V]) Get(ctx context.Context, k K) (V, bool, error) {
	v, _, ok, err := d.GetRev(ctx, k)
	return v, ok, err
}

// GetRev returns the value under k with its revision, for CompareAndSwap, and whether there is
// one.
func (d *Dict[K, V]) GetRev(ctx context.Context, k K) (v V, rev uint64, ok bool, err error) {
	key, err := d.key(k)
	if err != nil {
		return v, 0, false, err
	}
	e, err := d.getRaw(ctx, key)
	if err != nil || e == nil {
		return v, 0, false, err
	}
	if err := decode("a Dict value", e.Value(), &v); err != nil {
		return v, 0, false, err
	}
	return v, e.Revision(), true, nil
}

// Set stores v under k.
func (d *Dict[K, V]) Set(ctx context.Context, k K, v V) error {
	key, err := d.key(k)
	if err != nil {
		return err
	}
	b, err := encode("a Dict value", v)
	if err != nil {
		return err
	}
	if _, err := d.kv.Put(ctx, key, b); err != nil {
		return wireError(d.what("Set"), err)
	}
	return nil
}

// cas stores b under key if its revision is still rev (0: if there is no value), and reports
// the new revision and true, or false on a conflict.
func (d *Dict[K, V]) cas(ctx context.Context, key string, rev uint64, b []byte) (uint64, bool, error) {
	var nrev uint64
	var err error
	if rev == 0 {
		nrev, err = d.kv.Create(ctx, key, b)
	} else {
		nrev, err = d.kv.Update(ctx, key, b, rev)
	}
	switch {
	case err == nil:
		return nrev, true, nil
	case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, false, nil
	}
	return 0, false, wireError(d.what("CompareAndSwap"), err)
}

// CompareAndSwap stores v under k if the value there still has revision rev (0: if there is no
// value), and returns the new revision and true; otherwise it stores nothing and returns the
// current revision (0 when there is no value) and false.
func (d *Dict[K, V]) CompareAndSwap(ctx context.Context, k K, rev uint64, v V) (uint64, bool, error) {
	key, err := d.key(k)
	if err != nil {
		return 0, false, err
	}
	b, err := encode("a Dict value", v)
	if err != nil {
		return 0, false, err
	}
	nrev, ok, err := d.cas(ctx, key, rev, b)
	if err != nil || ok {
		return nrev, ok, err
	}
	e, err := d.getRaw(ctx, key)
	if err != nil || e == nil {
		return 0, false, err
	}
	return e.Revision(), false, nil
}

// Delete removes the value under k and reports whether there was one.
func (d *Dict[K, V]) Delete(ctx context.Context, k K) (bool, error) {
	key, err := d.key(k)
	if err != nil {
		return false, err
	}
	for {
		e, err := d.getRaw(ctx, key)
		if err != nil || e == nil {
			return false, err
		}
		err = d.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, fmt.Errorf("%s: %w", d.what("Delete"), err)
		}
		// Written meanwhile: look again.
	}
}

// Keys returns the keys in the dict, in no particular order.
func (d *Dict[K, V]) Keys(ctx context.Context) ([]K, error) {
	l, err := d.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.what("Keys"), err)
	}
	defer l.Stop()
	var keys []K
	var first error
	for s := range l.Keys() {
		k, err := decodeKey[K](s)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		keys = append(keys, k)
	}
	return keys, first
}

// Len returns the number of keys in the dict.
func (d *Dict[K, V]) Len(ctx context.Context) (int, error) {
	keys, err := d.Keys(ctx)
	return len(keys), err
}

// Items returns a copy of the dict as a map.
func (d *Dict[K, V]) Items(ctx context.Context) (map[K]V, error) {
	w, err := d.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.what("Items"), err)
	}
	defer w.Stop()
	m := map[K]V{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("%s: the watcher ended early", d.what("Items"))
			}
			if e == nil { // the end of the values there are
				return m, nil
			}
			k, err := decodeKey[K](e.Key())
			if err != nil {
				return nil, err
			}
			var v V
			if err := decode("a Dict value", e.Value(), &v); err != nil {
				return nil, err
			}
			m[k] = v
		}
	}
}

// Change is one write to a Dict, as Watch reports it.
type Change[K comparable, V any] struct {
	Key     K
	Value   V      // the value stored; V's zero value when Deleted
	Rev     uint64 // the write's revision
	Deleted bool   // the key was deleted
	Err     error  // a key or value that did not decode (mp.ErrDecode); Key and Value are unset
}

// Watch reports the writes to the dict made after it returns, by any process, in the order of
// their revisions, on the channel it returns, until ctx ends; then it closes the channel. Read
// the channel until it is closed: the goroutine that feeds it ends with ctx. The bucket keeps
// only the latest revision of each key, so a watcher that falls behind a key written quickly may
// skip from one value of it to a later one; the latest write to every key is always reported.
func (d *Dict[K, V]) Watch(ctx context.Context) (<-chan Change[K, V], error) {
	w, err := d.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.what("Watch"), err)
	}
	out := make(chan Change[K, V])
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			var e jetstream.KeyValueEntry
			select {
			case <-ctx.Done():
				return
			case x, ok := <-w.Updates():
				if !ok {
					return
				}
				e = x
			}
			if e == nil {
				continue
			}
			ch := Change[K, V]{Rev: e.Revision(), Deleted: e.Operation() != jetstream.KeyValuePut}
			var err error
			if ch.Key, err = decodeKey[K](e.Key()); err == nil && !ch.Deleted {
				err = decode("a Dict value", e.Value(), &ch.Value)
			}
			if err != nil {
				ch = Change[K, V]{Rev: e.Revision(), Err: err}
			}
			select {
			case <-ctx.Done():
				return
			case out <- ch:
			}
		}
	}()
	return out, nil
}

// Close releases this handle; the dict stays in the cluster. It is idempotent.
func (d *Dict[K, V]) Close() error { return nil }

// Destroy removes the dict, with every entry, from the cluster, for every process.
func (d *Dict[K, V]) Destroy(ctx context.Context) error {
	if err := d.c.js.DeleteKeyValue(ctx, "mpd-"+d.name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%s: %w", d.what("Destroy"), err)
	}
	return nil
}

// String describes the dict: `mpnats.Dict[string,int]("scores")`.
func (d *Dict[K, V]) String() string {
	return fmt.Sprintf("mpnats.Dict[%v,%v](%q)", reflect.TypeFor[K](), reflect.TypeFor[V](), d.name)
}

// update runs apply on the raw value under key in a compare-and-swap loop: read, compute, store
// if nobody wrote meanwhile, else again (after a short, growing pause), until ctx ends.
func (d *Dict[K, V]) update(ctx context.Context, key string, apply func(cur []byte, ok bool) ([]byte, error)) ([]byte, error) {
	pause := 100 * time.Microsecond
	for {
		e, err := d.getRaw(ctx, key)
		if err != nil {
			return nil, err
		}
		var cur []byte
		var rev uint64
		if e != nil {
			cur, rev = e.Value(), e.Revision()
		}
		nb, err := apply(cur, e != nil)
		if err != nil {
			return nil, err
		}
		_, ok, err := d.cas(ctx, key, rev, nb)
		if err != nil {
			return nil, err
		}
		if ok {
			return nb, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// Update runs the registered fn (see mp.RegisterUpdate) on the value under key with arg, in the
// caller, and stores what it returns, atomically: if another process writes the key between the
// read and the store, Update reads again and runs fn again, until the store succeeds or ctx ends.
// So fn may run more than once for one Update: keep it free of side effects. It returns the value
// stored; an error from fn stores nothing and is returned as it is.
func Update[K comparable, V, A any](ctx context.Context, d *Dict[K, V], key K, fn *mp.UpdateFunc[V, A], arg A) (V, error) {
	var zero V
	if fn == nil {
		return zero, fmt.Errorf("%w: mpnats.Update with a nil *mp.UpdateFunc", mp.ErrNotRegistered)
	}
	k, err := d.key(key)
	if err != nil {
		return zero, err
	}
	ab, err := encode("the argument of "+fn.Name(), arg)
	if err != nil {
		return zero, err
	}
	nb, err := d.update(ctx, k, func(cur []byte, ok bool) ([]byte, error) {
		nb, known, err := codec.Apply(ctx, fn, cur, ok, ab)
		if !known {
			return nil, fmt.Errorf("%w: mpnats.Update: %s is not an update function of this build", mp.ErrNotRegistered, fn.Name())
		}
		return nb, err
	})
	if err != nil {
		return zero, err
	}
	var v V
	return v, decode("the value "+fn.Name()+" returned", nb, &v)
}

// Add adds delta to the number under key (missing: 0) atomically, as Update does, and returns the
// sum.
func Add[K comparable, V mp.Number](ctx context.Context, d *Dict[K, V], key K, delta V) (V, error) {
	k, err := d.key(key)
	if err != nil {
		return 0, err
	}
	var sum V
	_, err = d.update(ctx, k, func(cur []byte, ok bool) ([]byte, error) {
		var v V
		if ok {
			if err := decode("a Dict value", cur, &v); err != nil {
				return nil, err
			}
		}
		sum = v + delta
		return encode("a Dict value", sum)
	})
	return sum, err
}
