//go:build linux || darwin

package mp_test

import (
	"fmt"
	"maps"
	"runtime"
	"testing"

	"github.com/mp-go/mp"
)

// BatchPoint is a value the fast codec does not know: GetMany copies it out of the table and
// decodes it after the lock.
type BatchPoint struct {
	X, Y int
	Tag  string
}

// TestManagerDictBatch: GetMany and SetMany of many keys, of basic and struct values, on the
// shared-memory path and on the socket, return what was stored and omit absent keys; a SetMany
// over an entry holding a proxy lets go of it, and one storing a proxy counts it.
func TestManagerDictBatch(t *testing.T) {
	for _, path := range []string{"shm", "socket"} {
		t.Run(path, func(t *testing.T) {
			if path == "socket" {
				defer mp.ManagerLocalOff(mp.ManagerLocalOff(true))
			}
			ctx := ctxT(t)
			m := startManager(t)
			ds := newDict[string, string](t, m)
			di := newDict[int64, BatchPoint](t, m)
			kv := map[string]string{"": "empty key", "é": ""}
			ki := map[int64]BatchPoint{}
			var keys []string
			var ikeys []int64
			for i := range 500 {
				k := fmt.Sprint("key-", i)
				kv[k] = fmt.Sprint("value ", i, " ", string(make([]byte, i%40)))
				ki[int64(i*i-250)] = BatchPoint{X: i, Y: -i, Tag: k}
				keys, ikeys = append(keys, k), append(ikeys, int64(i*i-250))
			}
			if err := ds.SetMany(ctx, kv); err != nil {
				t.Fatal(err)
			}
			if err := di.SetMany(ctx, ki); err != nil {
				t.Fatal(err)
			}
			got, err := ds.GetMany(ctx, append(keys, "", "é", "absent"))
			if err != nil || !maps.Equal(got, kv) {
				t.Fatalf("GetMany: %d values (want %d), %v", len(got), len(kv), err)
			}
			goti, err := di.GetMany(ctx, append(ikeys, 1<<40))
			if err != nil || !maps.Equal(goti, ki) {
				t.Fatalf("GetMany of struct values: %d values (want %d), %v", len(goti), len(ki), err)
			}
			if got := mp.DictAttached(ds); got != (path == "shm" && runtime.GOOS == "linux") {
				t.Fatalf("the dict's table attached: %t on the %s path", got, path)
			}
			if v, ok, err := ds.Get(ctx, "key-7"); v != kv["key-7"] || !ok || err != nil {
				t.Fatalf("Get after SetMany: %q, %t, %v", v, ok, err)
			}
			if got, err := ds.GetMany(ctx, nil); err != nil || len(got) != 0 {
				t.Fatalf("GetMany of no keys: %v, %v", got, err)
			}

			// Proxies in a batch: counted when stored, let go of when a plain SetMany replaces them.
			outer := newDict[string, *mp.Dict[string, int]](t, m)
			base := objects(t, m)
			inner := newDict[string, int](t, m)
			if err := outer.SetMany(ctx, map[string]*mp.Dict[string, int]{"a": inner, "b": inner}); err != nil {
				t.Fatal(err)
			}
			inner.Close()
			if n := objects(t, m); n != base+1 {
				t.Fatalf("after storing a proxy twice and closing it: %d objects, want %d", n, base+1)
			}
			back, err := outer.GetMany(ctx, []string{"a", "b"})
			if err != nil || len(back) != 2 {
				t.Fatalf("GetMany of proxies: %v, %v", back, err)
			}
			if err := back["a"].Set(ctx, "x", 5); err != nil {
				t.Fatal(err)
			}
			if v, _, err := back["b"].Get(ctx, "x"); v != 5 || err != nil {
				t.Fatalf("a write through one proxy GetMany returned is not seen through the other: %d, %v", v, err)
			}
			back["a"].Close()
			back["b"].Close()
			if err := outer.SetMany(ctx, map[string]*mp.Dict[string, int]{"a": nil, "b": nil}); err != nil {
				t.Fatal(err)
			}
			if n := objects(t, m); n != base {
				t.Fatalf("after SetMany replaced every reference: %d objects, want %d", n, base)
			}
		})
	}
}
