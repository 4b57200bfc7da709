//go:build linux

package mp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// Tests of the managed Dict's local fast path (manager_table*.go): dict operations run on a
// shared-memory table in the calling process, and fall back to the manager where they must.

type PathArg struct {
	D      *mp.Dict[string, int]
	L      *mp.Dict[string, []int]
	N      int
	Socket bool // use the manager's socket, not the table
}

// PathResult is what MgrBothPaths did: whether the table was attached, and the last Add's sum.
type PathResult struct {
	Attached bool
	Rev      uint64
}

// MgrBothPaths adds 1 to d["n"] a.N times and appends its pid to l["pids"], by the path a.Socket
// says, then reads d["seen"] (set by the parent) and CompareAndSwaps it with its revision.
var MgrBothPaths = mp.Register("test.mgr.both_paths", func(ctx context.Context, a PathArg) (PathResult, error) {
	mp.ManagerLocalOff(a.Socket)
	for range a.N {
		if _, err := mp.Add(ctx, a.D, "n", 1); err != nil {
			return PathResult{}, err
		}
	}
	if _, err := mp.Update(ctx, a.L, "pids", MgrAppend, os.Getpid()); err != nil {
		return PathResult{}, err
	}
	return PathResult{Attached: mp.DictAttached(a.D)}, nil
})

// TestManagerDictLocalPath: clients on the table and clients on the socket see one dict, and
// their read-modify-writes are atomic together.
func TestManagerDictLocalPath(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	l := newDict[string, []int](t, m)
	if err := d.Set(ctx, "seen", 7); err != nil {
		t.Fatal(err)
	}
	if !mp.DictAttached(d) {
		t.Fatal("the parent's dict is not on its table after a Set (the fast path is off)")
	}
	const n = 300
	results := make([]PathResult, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = mp.Run(ctx, MgrBothPaths, PathArg{D: d, L: l, N: n, Socket: i%2 == 1})
		}()
	}
	for range n { // and the parent, on the table, meanwhile
		if _, err := mp.Add(ctx, d, "n", 1); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if want := i%2 == 0; r.Attached != want {
			t.Fatalf("child %d (socket %t): attached %t", i, !want, r.Attached)
		}
	}
	if v, _, err := d.Get(ctx, "n"); v != 5*n || err != nil {
		t.Fatalf("n = %d, %v after 5×%d Adds from both paths; want %d (an Add was lost)", v, err, n, 5*n)
	}
	if pids, _, err := l.Get(ctx, "pids"); len(pids) != 4 || err != nil {
		t.Fatalf("pids = %v, %v; want 4 (an Update was lost)", pids, err)
	}
	// Revisions are one sequence for both paths: a revision read on the socket swaps on the table.
	prev := mp.ManagerLocalOff(true)
	_, rev, ok, err := d.GetRev(ctx, "seen")
	mp.ManagerLocalOff(prev)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, swapped, err := d.CompareAndSwap(ctx, "seen", rev, 8); !swapped || err != nil {
		t.Fatalf("CompareAndSwap on the table with the socket's revision: %t, %v", swapped, err)
	}
	if _, swapped, _ := d.CompareAndSwap(ctx, "seen", rev, 9); swapped {
		t.Fatal("CompareAndSwap with a stale revision swapped")
	}
	// The rest of the API on the table.
	if err := d.SetMany(ctx, map[string]int{"a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetMany(ctx, []string{"a", "b", "zz"})
	if err != nil || len(got) != 2 || got["a"] != 1 || got["b"] != 2 {
		t.Fatalf("GetMany = %v, %v", got, err)
	}
	items, err := d.Items(ctx)
	if err != nil || len(items) != 4 || items["seen"] != 8 || items["n"] != 5*n {
		t.Fatalf("Items = %v, %v", items, err)
	}
	keys, err := d.Keys(ctx)
	if err != nil || len(keys) != 4 {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	if found, err := d.Delete(ctx, "a"); !found || err != nil {
		t.Fatal(found, err)
	}
	if err := d.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err := d.Len(ctx); k != 0 || err != nil {
		t.Fatalf("Len after Clear = %d, %v", k, err)
	}
}

// Box is a value that may hold a proxy.
type Box struct {
	D *mp.Dict[string, int]
	N int
}

// MgrUnbox replaces a Box by one without its proxy.
var MgrUnbox = mp.RegisterUpdate("test.mgr.unbox", func(ctx context.Context, cur Box, ok bool, n int) (Box, error) {
	return Box{N: n}, nil
})

// TestManagerDictLocalNested: entries holding proxies stay the manager's: a direct write of a
// plain value over one, a Delete, a Clear, an Update and a SetMany each let go of the proxy's
// object (which a write on the table alone would leak), and reads hand out live proxies.
func TestManagerDictLocalNested(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	outer := newDict[string, Box](t, m)
	base := objects(t, m)
	for _, tc := range []struct {
		name  string
		clear func() error
	}{
		{"Set", func() error { return outer.Set(ctx, "k", Box{N: 1}) }},
		{"CompareAndSwap", func() error {
			b, rev, _, err := outer.GetRev(ctx, "k")
			if err != nil {
				return err
			}
			b.D.Close() // the proxy read back holds the object too
			if _, ok, err := outer.CompareAndSwap(ctx, "k", rev, Box{N: 1}); !ok || err != nil {
				return errors.Join(err, errors.New("not swapped"))
			}
			return nil
		}},
		{"Delete", func() error { _, err := outer.Delete(ctx, "k"); return err }},
		{"Clear", func() error { return outer.Clear(ctx) }},
		{"SetMany", func() error { return outer.SetMany(ctx, map[string]Box{"k": {N: 2}, "j": {N: 3}}) }},
		{"Update", func() error { _, err := mp.Update(ctx, outer, "k", MgrUnbox, 4); return err }},
	} {
		inner := newDict[string, int](t, m)
		if err := inner.Set(ctx, "x", 42); err != nil {
			t.Fatal(err)
		}
		if err := outer.Set(ctx, "k", Box{D: inner, N: 0}); err != nil {
			t.Fatal(err)
		}
		inner.Close() // only the stored value keeps it now
		if n := objects(t, m); n != base+1 {
			t.Fatalf("%s: with a proxy stored: %d objects, want %d", tc.name, n, base+1)
		}
		// Reads of the entry go to the manager, which counts the proxies it hands out.
		b, ok, err := outer.Get(ctx, "k")
		if !ok || err != nil || b.D == nil {
			t.Fatalf("%s: Get of the entry holding a proxy: %+v, %t, %v", tc.name, b, ok, err)
		}
		if v, _, err := b.D.Get(ctx, "x"); v != 42 || err != nil {
			t.Fatalf("%s: the proxy read back: %d, %v", tc.name, v, err)
		}
		items, err := outer.Items(ctx)
		if err != nil || items["k"].D == nil {
			t.Fatalf("%s: Items: %v, %v", tc.name, items, err)
		}
		many, err := outer.GetMany(ctx, []string{"k"})
		if err != nil || many["k"].D == nil {
			t.Fatalf("%s: GetMany: %v, %v", tc.name, many, err)
		}
		b.D.Close()
		items["k"].D.Close()
		many["k"].D.Close()
		if err := tc.clear(); err != nil {
			t.Fatalf("%s over an entry holding a proxy: %v", tc.name, err)
		}
		if n := objects(t, m); n != base {
			t.Fatalf("%s over an entry holding a proxy: %d objects, want %d (the stored proxy's object leaked)", tc.name, n, base)
		}
		outer.Clear(ctx)
	}
	if !mp.DictAttached(outer) {
		t.Fatal("the dict was never on its table")
	}
}

// TestManagerDictLocalManagerDies: a process using its dicts' tables gets ErrManagerDead once
// the manager is killed, though the tables' memory lives on in its mapping.
func TestManagerDictLocalManagerDies(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	if err := d.Set(ctx, "k", 1); err != nil || !mp.DictAttached(d) {
		t.Fatalf("Set: %v, attached %t", err, mp.DictAttached(d))
	}
	if err := syscall.Kill(m.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var err error
	waitFor(t, "a direct Get to fail after the manager's death", func() bool {
		_, _, err = d.Get(ctx, "k")
		return err != nil
	})
	t.Logf("direct Gets failed %v after the SIGKILL", time.Since(killed))
	if !errors.Is(err, mp.ErrManagerDead) {
		t.Fatalf("Get after the manager died: %v, want ErrManagerDead", err)
	}
	if err := d.Set(ctx, "k", 2); !errors.Is(err, mp.ErrManagerDead) {
		t.Fatalf("Set after the manager died: %v, want ErrManagerDead", err)
	}
	if _, err := mp.Add(ctx, d, "k", 1); !errors.Is(err, mp.ErrManagerDead) {
		t.Fatalf("Add after the manager died: %v, want ErrManagerDead", err)
	}
}

// TestManagerDictLocalShutdown: after Shutdown, direct operations fail with ErrClosed.
func TestManagerDictLocalShutdown(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	if err := d.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Get after Shutdown: %v, want ErrClosed", err)
	}
}

// TestManagerDictLocalFreed: a dict freed in the manager (every proxy closed) stays freed for a
// proxy decoded afterwards from its old encoding, though this process had its table.
func TestManagerDictLocalFreed(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	base := objects(t, m)
	d := newDict[string, int](t, m)
	if err := d.Set(ctx, "k", 1); err != nil || !mp.DictAttached(d) {
		t.Fatal(err)
	}
	enc, err := d.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if n := objects(t, m); n != base {
		t.Fatalf("after Close: %d objects, want %d", n, base)
	}
	if err := d.Set(ctx, "k", 2); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Set on a closed Dict: %v, want ErrClosed", err)
	}
	var stale mp.Dict[string, int]
	if err := stale.UnmarshalCBOR(enc); err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if _, _, err := stale.Get(ctx, "k"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Get through a stale proxy of a freed dict: %v, want ErrClosed", err)
	}
	if err := stale.Set(ctx, "k", 3); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Set through a stale proxy of a freed dict: %v, want ErrClosed", err)
	}
	if mp.DictAttached(&stale) {
		t.Fatal("a stale proxy got the freed dict's table")
	}
	if n := objects(t, m); n != base {
		t.Fatalf("the stale proxy brought the dict back: %d objects, want %d", n, base)
	}
}

// MgrBlockLocal runs the blocking update on the dict's table in this process (the fast path).
var MgrBlockLocal = mp.Register("test.mgr.block_local", func(ctx context.Context, a BlockInChildArg) (int, error) {
	return mp.Update(ctx, a.D, "k", MgrBlock, a.Block)
})

// TestManagerDictLocalKilledHoldingLock: a client killed inside an Update, holding the table's
// lock, leaves the dict as it was; the next operation recovers the table and does not fail.
func TestManagerDictLocalKilledHoldingLock(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	if err := d.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	arg := BlockInChildArg{D: d, Block: BlockArg{Started: filepath.Join(dir, "started"), Release: filepath.Join(dir, "never")}}
	p := mp.NewProcess(MgrBlockLocal, arg)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child's update to hold the table's lock", func() bool { _, err := os.Stat(arg.Block.Started); return err == nil })
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan error, 1)
	go func() { // waits for the lock meanwhile
		defer wg.Done()
		_, err := mp.Add(ctx, d, "k", 10)
		errc <- err
	}()
	p.Kill()
	p.Wait(ctx)
	wg.Wait()
	if err := <-errc; err != nil {
		t.Fatalf("Add waiting for a lock whose holder was killed: %v", err)
	}
	if v, _, err := d.Get(ctx, "k"); v != 11 || err != nil {
		t.Fatalf("k = %d, %v; want 11 (the killed update stored nothing, the Add after it did)", v, err)
	}
	// The manager serves it too (socket path), from the same recovered table.
	prev := mp.ManagerLocalOff(true)
	defer mp.ManagerLocalOff(prev)
	if v, _, err := d.Get(ctx, "k"); v != 11 || err != nil {
		t.Fatalf("k through the manager = %d, %v; want 11", v, err)
	}
}

// TestManagerDictLocalFull: a value bigger than a dict may hold, and a dict full, are
// ErrTooLarge errors that say what to do, and the dict works on.
func TestManagerDictLocalFull(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t, mp.WithDictMaxSize(1<<20))
	d := newDict[string, []byte](t, m)
	err := d.Set(ctx, "big", make([]byte, 2<<20))
	if !errors.Is(err, mp.ErrTooLarge) || !mp.DictAttached(d) {
		t.Fatalf("a 2 MiB value in a dict of 1 MiB: %v (attached %t), want ErrTooLarge", err, mp.DictAttached(d))
	}
	t.Log(err)
	var full error
	n := 0
	for ; n < 100 && full == nil; n++ {
		full = d.Set(ctx, string(rune('a'+n%26))+string(rune('a'+n/26)), make([]byte, 64<<10))
	}
	if !errors.Is(full, mp.ErrTooLarge) {
		t.Fatalf("filling a 1 MiB dict with 64 KiB values: %v after %d, want ErrTooLarge", full, n)
	}
	// The manager's own writes to it fail the same way.
	prev := mp.ManagerLocalOff(true)
	err = d.Set(ctx, "zz", make([]byte, 64<<10))
	mp.ManagerLocalOff(prev)
	if !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("a Set through the manager into a full dict: %v, want ErrTooLarge", err)
	}
	if err := d.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Set(ctx, "k", []byte("fine")); err != nil {
		t.Fatalf("Set after Clear: %v", err)
	}
	if _, err := mp.StartManager(ctx, mp.WithDictMaxSize(10)); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("WithDictMaxSize(10): %v, want ErrInvalidOption", err)
	}
}

// TestManagerStatsOps: ManagerStats.Ops counts every operation once, whether the manager served
// it or a client ran it on the dict's table, in this process or in children; Stats itself does
// not count.
func TestManagerStatsOps(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	l := newDict[string, []int](t, m)
	if err := d.Set(ctx, "warm", 1); err != nil { // attaches the table
		t.Fatal(err)
	}
	if !mp.DictAttached(d) {
		t.Fatal("the dict is not on its table after a Set (the fast path is off)")
	}
	ops := func() uint64 {
		t.Helper()
		st, err := m.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Ops
	}
	o0 := ops()
	if o0 == 0 {
		t.Fatal("Ops = 0 after making two dicts and a Set")
	}
	if o := ops(); o != o0 {
		t.Fatalf("Ops went from %d to %d across a Stats: Stats must not count", o0, o)
	}
	const k = 25
	for i := range k { // on the table, without the manager
		if err := d.Set(ctx, "a", i); err != nil {
			t.Fatal(err)
		}
	}
	if o := ops(); o != o0+k {
		t.Fatalf("Ops = %d after %d Sets on the table; want %d", o, k, o0+k)
	}
	prev := mp.ManagerLocalOff(true)
	for range k { // through the manager
		if _, _, err := d.Get(ctx, "a"); err != nil {
			mp.ManagerLocalOff(prev)
			t.Fatal(err)
		}
	}
	mp.ManagerLocalOff(prev)
	if o := ops(); o != o0+2*k {
		t.Fatalf("Ops = %d after %d more Gets through the manager; want %d", o, k, o0+2*k)
	}
	// Two children, one on the table and one on the socket: n Adds and one Update each, plus
	// what receiving the proxies and attaching the table take (a few calls).
	const n = 100
	o1 := ops()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = mp.Run(ctx, MgrBothPaths, PathArg{D: d, L: l, N: n, Socket: i == 1})
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if o, lo := ops(), o1+2*(n+1); o < lo || o > lo+12 {
		t.Fatalf("Ops = %d after two children's %d operations each; want %d to %d", o, n+1, lo, lo+12)
	}
	// A dict freed takes its table, not its count.
	o2 := ops()
	d.Close()
	if o := ops(); o < o2 {
		t.Fatalf("Ops = %d after the dict was freed; it was %d (the table's count was lost)", o, o2)
	}
}
