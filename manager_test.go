//go:build linux || darwin

package mp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

// Functions the manager tests run in the manager process and in children.
var (
	// MgrAppend appends arg to the slice under the key, in the manager.
	MgrAppend = mp.RegisterUpdate("test.mgr.append", func(ctx context.Context, cur []int, ok bool, x int) ([]int, error) {
		return append(cur, x), nil
	})
	// MgrDecrement takes one off a count that must be there and positive.
	MgrDecrement = mp.RegisterUpdate("test.mgr.decrement", func(ctx context.Context, cur int, ok bool, _ struct{}) (int, error) {
		if !ok || cur <= 0 {
			return cur, ErrSoldOut
		}
		return cur - 1, nil
	})
	// MgrBlock creates the file arg.Started, then waits for arg.Release to exist (at most 20 s).
	MgrBlock = mp.RegisterUpdate("test.mgr.block", func(ctx context.Context, cur int, ok bool, a BlockArg) (int, error) {
		os.WriteFile(a.Started, nil, 0o600)
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(a.Release); err == nil {
				break
			}
		}
		return cur + 1000, nil
	})
	// MgrInit is a manager initializer: it creates the file path, or fails with ErrSoldOut on "".
	MgrInit = mp.Register("test.mgr.init", func(ctx context.Context, path string) (struct{}, error) {
		if path == "" {
			return struct{}{}, ErrSoldOut
		}
		return struct{}{}, os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o600)
	})
	// MgrWorker adds 1 to d["n"] a.N times, through Add, and appends its pid under "pids" with
	// Update; with a.Grandchild it first passes the dict on to a grandchild that does the same.
	MgrWorker = mp.Register("test.mgr.worker", func(ctx context.Context, a WorkerArg) (struct{}, error) {
		if a.Grandchild {
			if _, err := mp.Run(ctx, MgrWorkerLeaf, a); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, mgrWork(ctx, a)
	})
	MgrWorkerLeaf = mp.Register("test.mgr.worker_leaf", func(ctx context.Context, a WorkerArg) (struct{}, error) {
		return struct{}{}, mgrWork(ctx, a)
	})
	// MgrHolder makes its connection hold every dict of a.Ds (one call each), sets a.Ready and
	// waits to be killed.
	MgrHolder = mp.Register("test.mgr.holder", func(ctx context.Context, a HolderArg) (struct{}, error) {
		for _, d := range a.Ds {
			if _, err := d.Len(ctx); err != nil {
				return struct{}{}, err
			}
		}
		a.Ready.Set()
		<-ctx.Done()
		return struct{}{}, nil
	})
)

type BlockArg struct{ Started, Release string }

type WorkerArg struct {
	D          *mp.Dict[string, []int]
	Count      *mp.Dict[string, int]
	N          int
	Grandchild bool
}

type HolderArg struct {
	Ds    []*mp.Dict[string, int]
	Ready *mp.Event
}

func mgrWork(ctx context.Context, a WorkerArg) error {
	for range a.N {
		if _, err := mp.Add(ctx, a.Count, "n", 1); err != nil {
			return err
		}
	}
	_, err := mp.Update(ctx, a.D, "pids", MgrAppend, os.Getpid())
	return err
}

// socketPath makes this test's dicts use the manager's socket, not their tables (whose Update
// runs in the caller): for tests of calls that run in the manager.
func socketPath(t *testing.T) {
	prev := mp.ManagerLocalOff(true)
	t.Cleanup(func() { mp.ManagerLocalOff(prev) })
}

func startManager(t *testing.T, opts ...mp.ManagerOption) *mp.Manager {
	t.Helper()
	m, err := mp.StartManager(ctxT(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func newDict[K comparable, V any](t *testing.T, m *mp.Manager) *mp.Dict[K, V] {
	t.Helper()
	d, err := mp.NewDict[K, V](ctxT(t), m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustM[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func objects(t *testing.T, m *mp.Manager) int {
	t.Helper()
	st, err := m.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return st.Objects
}

// TestManagerDict: a Dict's methods against the manager process, and Get is a copy.
func TestManagerDict(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, []int](t, m)
	if _, ok, err := d.Get(ctx, "a"); ok || err != nil {
		t.Fatalf("Get of a missing key: ok=%t, %v", ok, err)
	}
	if err := d.Set(ctx, "a", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := d.Get(ctx, "a")
	if !ok || err != nil || !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("Get = %v, %t, %v", got, ok, err)
	}
	got = append(got, 3) // Python's d["a"].append(3): here visibly a copy
	got[0] = 100
	if again, _, _ := d.Get(ctx, "a"); !slices.Equal(again, []int{1, 2}) {
		t.Fatalf("changing a copy changed the manager's value: %v", again)
	}
	if v := mustM[[]int](t)(mp.Update(ctx, d, "a", MgrAppend, 3)); !slices.Equal(v, []int{1, 2, 3}) {
		t.Fatalf("Update returned %v", v)
	}
	if err := d.SetMany(ctx, map[string][]int{"b": {2}, "c": {3}}); err != nil {
		t.Fatal(err)
	}
	if n := mustM[int](t)(d.Len(ctx)); n != 3 {
		t.Fatalf("Len = %d", n)
	}
	keys := mustM[[]string](t)(d.Keys(ctx))
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a", "b", "c"}) {
		t.Fatalf("Keys = %v", keys)
	}
	many := mustM[map[string][]int](t)(d.GetMany(ctx, []string{"b", "zz", "c"}))
	if len(many) != 2 || !slices.Equal(many["b"], []int{2}) || !slices.Equal(many["c"], []int{3}) {
		t.Fatalf("GetMany = %v", many)
	}
	items := mustM[map[string][]int](t)(d.Items(ctx))
	if len(items) != 3 || !slices.Equal(items["a"], []int{1, 2, 3}) {
		t.Fatalf("Items = %v", items)
	}
	// CompareAndSwap by revision: the current one wins once, a stale one loses.
	_, rev, _, err := d.GetRev(ctx, "b")
	if err != nil || rev == 0 {
		t.Fatalf("GetRev: rev %d, %v", rev, err)
	}
	newRev, ok, err := d.CompareAndSwap(ctx, "b", rev, []int{20})
	if !ok || err != nil || newRev <= rev {
		t.Fatalf("CompareAndSwap with the current revision: %d, %t, %v", newRev, ok, err)
	}
	cur, ok, err := d.CompareAndSwap(ctx, "b", rev, []int{99})
	if ok || err != nil || cur != newRev {
		t.Fatalf("CompareAndSwap with a stale revision: %d, %t, %v", cur, ok, err)
	}
	if _, ok, _ := d.CompareAndSwap(ctx, "new", 0, []int{1}); !ok {
		t.Fatal("CompareAndSwap with revision 0 on a missing key did not store")
	}
	if _, ok, _ := d.CompareAndSwap(ctx, "new", 0, []int{2}); ok {
		t.Fatal("CompareAndSwap with revision 0 on a present key stored")
	}
	if ok := mustM[bool](t)(d.Delete(ctx, "a")); !ok {
		t.Fatal("Delete of a present key reported false")
	}
	if ok := mustM[bool](t)(d.Delete(ctx, "a")); ok {
		t.Fatal("Delete of a missing key reported true")
	}
	if err := d.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n := mustM[int](t)(d.Len(ctx)); n != 0 {
		t.Fatalf("Len after Clear = %d", n)
	}

	counts := newDict[string, int64](t, m)
	for range 3 {
		mustM[int64](t)(mp.Add(ctx, counts, "n", 5))
	}
	if v := mustM[int64](t)(mp.Add(ctx, counts, "n", -1)); v != 14 {
		t.Fatalf("Add: %d, want 14", v)
	}
	floats := newDict[int, float32](t, m)
	mustM[float32](t)(mp.Add(ctx, floats, 1, 0.5))
	if v := mustM[float32](t)(mp.Add(ctx, floats, 1, 0.25)); v != 0.75 {
		t.Fatalf("Add of float32: %v", v)
	}
}

// TestManagerListNamespaceValue: the other kinds of object.
func TestManagerListNamespaceValue(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	l := mustM[*mp.List[string]](t)(mp.NewList(ctx, m, "a", "b"))
	if n := mustM[int](t)(l.Append(ctx, "c")); n != 3 {
		t.Fatalf("Append: length %d", n)
	}
	if v := mustM[string](t)(l.Index(ctx, 1)); v != "b" {
		t.Fatalf("Index(1) = %q", v)
	}
	if err := l.SetIndex(ctx, 1, "B"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Index(ctx, 3); !errors.Is(err, mp.ErrOutOfRange) {
		t.Fatalf("Index(3) of 3: %v, want ErrOutOfRange", err)
	}
	if v := mustM[string](t)(l.Pop(ctx)); v != "c" {
		t.Fatalf("Pop = %q", v)
	}
	if s := mustM[[]string](t)(l.Slice(ctx)); !slices.Equal(s, []string{"a", "B"}) {
		t.Fatalf("Slice = %v", s)
	}
	l.Clear(ctx)
	if _, err := l.Pop(ctx); !errors.Is(err, mp.ErrOutOfRange) {
		t.Fatalf("Pop of an empty list: %v", err)
	}

	type Conf struct {
		Name  string
		Level int
		Tags  []string
	}
	ns := mustM[*mp.Namespace[Conf]](t)(mp.NewNamespace(ctx, m, Conf{Name: "x", Level: 1}))
	if err := ns.SetField(ctx, "Level", 7); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetField(ctx, "Level", "seven"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("SetField of a string into an int: %v", err)
	}
	if _, err := ns.Field(ctx, "Nope"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("Field of a missing field: %v", err)
	}
	if v := mustM[any](t)(ns.Field(ctx, "Level")); v != 7 {
		t.Fatalf("Field(Level) = %#v", v)
	}
	if c := mustM[Conf](t)(ns.Get(ctx)); c.Name != "x" || c.Level != 7 {
		t.Fatalf("Get = %+v", c)
	}

	v := mustM[*mp.ManagedValue[int]](t)(mp.NewManagedValue(ctx, m, 40))
	if x := mustM[int](t)(mp.AddValue(ctx, v, 2)); x != 42 {
		t.Fatalf("AddValue = %d", x)
	}
	_, rev, err := v.LoadRev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := v.CompareAndSwap(ctx, rev, 1); !ok {
		t.Fatal("CompareAndSwap with the current revision failed")
	}
	if _, ok, _ := v.CompareAndSwap(ctx, rev, 2); ok {
		t.Fatal("CompareAndSwap with a stale revision stored")
	}
	if x := mustM[int](t)(v.Load(ctx)); x != 1 {
		t.Fatalf("Load = %d", x)
	}
}

// TestManagerUpdateErrorIdentity: an error returned by a registered update function keeps its
// identity, and stores nothing.
func TestManagerUpdateErrorIdentity(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	if err := d.Set(ctx, "count", 1); err != nil {
		t.Fatal(err)
	}
	if v, err := mp.Update(ctx, d, "count", MgrDecrement, struct{}{}); v != 0 || err != nil {
		t.Fatalf("Update = %d, %v", v, err)
	}
	_, err := mp.Update(ctx, d, "count", MgrDecrement, struct{}{})
	if !errors.Is(err, ErrSoldOut) {
		t.Fatalf("Update of a sold-out count: %v, want ErrSoldOut", err)
	}
	if v, _, _ := d.Get(ctx, "count"); v != 0 {
		t.Fatalf("a failed Update stored %d", v)
	}
	// An error of a registered type arrives with its fields (errors.As), as a task's does.
	_, err = mp.Update(ctx, d, "count", MgrQuota, "eve")
	var q *QuotaError
	if !errors.As(err, &q) || q.User != "eve" || q.Where.Port != 5432 || !errors.Is(err, ErrSoldOut) {
		t.Fatalf("Update failing with a *QuotaError: %v (As: %+v)", err, q)
	}
	// A panic in an update function is its call's error; the manager serves on.
	if _, err := mp.Update(ctx, d, "count", MgrPanic, struct{}{}); err == nil || !strings.Contains(err.Error(), "update panics on purpose") {
		t.Fatalf("Update that panics: %v", err)
	}
	if v, _, err := d.Get(ctx, "count"); v != 0 || err != nil {
		t.Fatalf("the manager after a panicking update: %d, %v", v, err)
	}
}

// MgrPanic panics in the manager.
var MgrPanic = mp.RegisterUpdate("test.mgr.panic", func(ctx context.Context, cur int, ok bool, _ struct{}) (int, error) {
	panic("update panics on purpose")
})

// MgrQuota fails with newQuotaError(user): a registered error type beside a sentinel.
var MgrQuota = mp.RegisterUpdate("test.mgr.quota", func(ctx context.Context, cur int, ok bool, user string) (int, error) {
	return 0, newQuotaError(user)
})

// TestManagerChildren: proxies in task arguments work in children and grandchildren, which
// update the same objects atomically; each process opens one connection.
func TestManagerChildren(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	a := WorkerArg{D: newDict[string, []int](t, m), Count: newDict[string, int](t, m), N: 50}
	var ps []*mp.Process
	for i := range 4 {
		a.Grandchild = i == 0
		p := mp.NewProcess(MgrWorker, a)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := a.Count.Get(ctx, "n"); n != 5*50 || err != nil {
		t.Fatalf("count = %d, %v; want %d (no lost update)", n, err, 5*50)
	}
	pids, _, _ := a.D.Get(ctx, "pids")
	if len(pids) != 5 {
		t.Fatalf("%d workers appended their pid, want 5 (4 children, 1 grandchild): %v", len(pids), pids)
	}
	if st, _ := m.Stats(ctx); st.Connections != 1 {
		t.Fatalf("%d connections once the children are gone, want 1 (ours)", st.Connections)
	}
}

// TestManagerNested: a proxy stored in another object is a reference; read back it is live;
// 10,000 create/store/drop cycles (2,000 under -race) leave the object count where it started.
func TestManagerNested(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	outer := newDict[string, *mp.Dict[string, int]](t, m)
	inner := newDict[string, int](t, m)
	if err := outer.Set(ctx, "in", inner); err != nil {
		t.Fatal(err)
	}
	inner.Close() // the outer dict keeps it alive
	back, ok, err := outer.Get(ctx, "in")
	if !ok || err != nil {
		t.Fatalf("Get of a stored proxy: %t, %v", ok, err)
	}
	if err := back.Set(ctx, "x", 1); err != nil {
		t.Fatal(err)
	}
	again, _, _ := outer.Get(ctx, "in")
	if v, _, err := again.Get(ctx, "x"); v != 1 || err != nil {
		t.Fatalf("a mutation through a read-back proxy is not seen by another: %d, %v", v, err)
	}
	back.Close()
	again.Close()

	base := objects(t, m)
	cycles := 10000
	if raceEnabled {
		cycles = 2000 // each round trip is several times slower under the race detector
	}
	for i := range cycles {
		d, err := mp.NewDict[string, int](ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := outer.Set(ctx, "tmp", d); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if i%2 == 0 {
			outer.Delete(ctx, "tmp")
		}
	}
	outer.Delete(ctx, "tmp")
	if n := objects(t, m); n != base {
		t.Fatalf("after %d create/store/drop cycles the manager holds %d objects, had %d", cycles, n, base)
	}
	outer.Close()
	if n := objects(t, m); n != base-2 {
		t.Fatalf("closing the outer dict left %d objects, want %d (it and the one it held freed)", n, base-2)
	}

	// A proxy of another manager cannot be stored.
	m2 := startManager(t)
	foreign := newDict[string, int](t, m2)
	holder := newDict[string, *mp.Dict[string, int]](t, m)
	if err := holder.Set(ctx, "f", foreign); !errors.Is(err, mp.ErrEncode) {
		t.Fatalf("storing a proxy of another manager: %v, want ErrEncode", err)
	}
}

// TestManagerClientKilled: a client killed while holding 1,000 proxies has them dropped.
func TestManagerClientKilled(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	base := objects(t, m)
	ready, err := mp.NewEvent()
	if err != nil {
		t.Fatal(err)
	}
	defer ready.Close()
	a := HolderArg{Ready: ready}
	for range 1000 {
		a.Ds = append(a.Ds, newDict[string, int](t, m))
	}
	p := mp.NewProcess(MgrHolder, a)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ready.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range a.Ds {
		d.Close()
	}
	st, err := m.Stats(ctx)
	if err != nil || st.Objects != base+1000 || st.Connections != 2 {
		t.Fatalf("with the child holding 1,000 proxies: %+v, %v; want %d objects, 2 connections (one per process)", st, err, base+1000)
	}
	p.Kill()
	p.Wait(ctx)
	killed := time.Now()
	waitFor(t, "the killed client's objects to be dropped", func() bool { return objects(t, m) == base })
	t.Logf("the killed client's 1,000 objects were dropped %v after it was reaped", time.Since(killed))
}

// TestManagerDied: a manager killed mid-call fails the pending call and every later one with
// ErrManagerDead, in the owner and in other processes alike.
func TestManagerDied(t *testing.T) {
	socketPath(t) // the update must run in the manager
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	dir := t.TempDir()
	arg := BlockArg{Started: filepath.Join(dir, "started"), Release: filepath.Join(dir, "never")}
	errc := make(chan error, 1)
	go func() {
		_, err := mp.Update(ctx, d, "k", MgrBlock, arg)
		errc <- err
	}()
	waitFor(t, "the update to run in the manager", func() bool { _, err := os.Stat(arg.Started); return err == nil })
	if err := syscall.Kill(m.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := <-errc; !errors.Is(err, mp.ErrManagerDead) {
		t.Fatalf("pending call: %v, want ErrManagerDead", err)
	}
	t.Logf("the pending call failed %v after the SIGKILL", time.Since(killed))
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, mp.ErrManagerDead) {
		t.Fatalf("later call: %v, want ErrManagerDead", err)
	}
	if _, err := mp.NewDict[string, int](ctx, m); !errors.Is(err, mp.ErrManagerDead) {
		t.Fatalf("NewDict: %v, want ErrManagerDead", err)
	}
	m.Close()
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, mp.ErrManagerDead) && !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestManagerCancelledCall: a call cut by its ctx returns ctx.Err(), and the next calls on the
// same connection get their own replies, not the late one.
func TestManagerCancelledCall(t *testing.T) {
	socketPath(t) // the update must run in the manager
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	d.Set(ctx, "k", 1)
	dir := t.TempDir()
	arg := BlockArg{Started: filepath.Join(dir, "started"), Release: filepath.Join(dir, "release")}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := mp.Update(cctx, d, "k", MgrBlock, arg)
		errc <- err
	}()
	waitFor(t, "the update to run in the manager", func() bool { _, err := os.Stat(arg.Started); return err == nil })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a call made while the late reply is still to come
		defer wg.Done()
		if v, _, err := d.Get(ctx, "k"); v != 1001 || err != nil {
			t.Errorf("Get after the cancelled Update = %d, %v; want 1001 (the update did run)", v, err)
		}
	}()
	os.WriteFile(arg.Release, nil, 0o600)
	wg.Wait()
	for i := range 20 {
		if err := d.Set(ctx, "i", i); err != nil {
			t.Fatal(err)
		}
		if v, _, err := d.Get(ctx, "i"); v != i || err != nil {
			t.Fatalf("Get = %d, %v; want %d", v, err, i)
		}
	}
}

// TestManagerLifecycle: the initializer runs in the manager before it serves, its failure is
// StartManager's error, and after Shutdown or Close every call fails with ErrClosed.
func TestManagerLifecycle(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "init")
	m := startManager(t, mp.WithManagerInitializer(MgrInit, path))
	if b, err := os.ReadFile(path); err != nil || string(b) != strconv.Itoa(m.Pid()) {
		t.Fatalf("the initializer did not run in the manager (pid %d) before StartManager returned: %q, %v", m.Pid(), b, err)
	}
	d := newDict[string, int](t, m)
	d.Set(ctx, "k", 1)
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Get after Shutdown: %v, want ErrClosed", err)
	}
	if _, err := m.Stats(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Stats after Shutdown: %v", err)
	}
	if err := m.Shutdown(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := mp.StartManager(ctx, mp.WithManagerInitializer(MgrInit, "")); !errors.Is(err, ErrSoldOut) {
		t.Fatalf("StartManager with a failing initializer: %v, want ErrSoldOut", err)
	}

	m2 := startManager(t)
	d2 := newDict[string, int](t, m2)
	m2.Close()
	m2.Close()
	if err := d2.Set(ctx, "k", 1); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
}

// TestManagerMisuse: nil, zero and closed proxies and managers return ErrClosed; a closed proxy
// does not encode.
func TestManagerMisuse(t *testing.T) {
	ctx := ctxT(t)
	var nilDict *mp.Dict[string, int]
	if _, _, err := nilDict.Get(ctx, "k"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("nil Dict: %v", err)
	}
	if _, err := new(mp.List[int]).Len(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("zero List: %v", err)
	}
	var nilM *mp.Manager
	if _, err := mp.NewDict[string, int](ctx, nilM); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("NewDict on a nil Manager: %v", err)
	}
	nilM.Close()
	if nilM.String() != "mp.Manager(nil)" || new(mp.Manager).Pid() != 0 || nilDict.String() != "mp.Dict(nil)" {
		t.Fatalf("nil descriptions: %s, %d, %s", nilM, new(mp.Manager).Pid(), nilDict)
	}
	if _, err := new(mp.Manager).Stats(ctx); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("Stats of a zero Manager: %v", err)
	}
	m := startManager(t)
	d := newDict[string, int](t, m)
	d.Close()
	d.Close()
	if err := d.Set(ctx, "k", 1); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("closed Dict: %v", err)
	}
	if _, err := d.MarshalCBOR(); !errors.Is(err, mp.ErrEncode) {
		t.Fatalf("encoding a closed Dict: %v", err)
	}
	big := newDict[string, []byte](t, m)
	if err := big.Set(ctx, "k", make([]byte, 65<<20)); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("a value over the frame limit: %v, want ErrTooLarge", err)
	}
	if err := big.Set(ctx, "k", []byte("fine")); err != nil {
		t.Fatalf("the connection after a refused value: %v", err)
	}
	if _, err := mp.Update(ctx, newDict[string, int](t, m), "k", nil, struct{}{}); !errors.Is(err, mp.ErrNotRegistered) {
		t.Fatalf("Update with a nil function: %v", err)
	}
	// A proxy of one kind does not decode as another.
	l := mustM[*mp.List[int]](t)(mp.NewList[int](ctx, m))
	b, err := l.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	if err := new(mp.Dict[string, int]).UnmarshalCBOR(b); !errors.Is(err, mp.ErrDecode) {
		t.Fatalf("a List decoded as a Dict: %v", err)
	}
}

// TestManagerConcurrentCalls: many goroutines share the one connection; each gets its own
// replies, also while others' calls are cut by their ctx (a reader that steps down mid-read
// loses nothing).
func TestManagerConcurrentCalls(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[int, int](t, m)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := g*1000 + i
				if err := d.Set(ctx, k, k*7); err != nil {
					t.Error(err)
					return
				}
				cctx, cancel := context.WithCancel(ctx)
				switch i % 3 {
				case 0:
					cancel() // before the call
				case 1:
					go cancel() // while the call is on its way, or is reading replies
				}
				v, ok, err := d.Get(cctx, k)
				cancel()
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Error(err)
					return
				}
				if err == nil && (!ok || v != k*7) {
					t.Errorf("goroutine %d: Get(%d) = %d, %t; want %d: a reply went to the wrong caller", g, k, v, ok, k*7)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := d.Len(ctx); n != 8*200 || err != nil {
		t.Fatalf("Len = %d, %v", n, err)
	}
}

// TestManagerNotPassed: a *Manager in a task argument is refused, saying what to pass instead.
func TestManagerNotPassed(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	_, err := mp.Run(ctx, MgrTakesManager, ManagerArg{M: m})
	if !errors.Is(err, mp.ErrEncode) || !strings.Contains(err.Error(), "pass its proxies") {
		t.Fatalf("a *Manager in an argument: %v, want ErrEncode saying to pass the proxies", err)
	}
}

type ManagerArg struct{ M *mp.Manager }

var MgrTakesManager = mp.Register("test.mgr.takes_manager", func(ctx context.Context, a ManagerArg) (struct{}, error) {
	return struct{}{}, nil
})

// BlockInChildArg is what MgrBlockInChild gets.
type BlockInChildArg struct {
	D     *mp.Dict[string, int]
	Block BlockArg
}

// MgrBlockInChild runs the blocking update from a child, and returns what it stored.
var MgrBlockInChild = mp.Register("test.mgr.block_in_child", func(ctx context.Context, a BlockInChildArg) (int, error) {
	mp.ManagerLocalOff(true) // the update must run in the manager
	return mp.Update(ctx, a.D, "k", MgrBlock, a.Block)
})

// TestManagerShutdownDrains: a call running in the manager when Shutdown comes completes, and
// its caller, in another process, gets its result; then Shutdown returns.
func TestManagerShutdownDrains(t *testing.T) {
	ctx := ctxT(t)
	m := startManager(t)
	d := newDict[string, int](t, m)
	dir := t.TempDir()
	arg := BlockInChildArg{D: d, Block: BlockArg{Started: filepath.Join(dir, "started"), Release: filepath.Join(dir, "release")}}
	p := mp.NewProcess(MgrBlockInChild, arg)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child's update to run in the manager", func() bool { _, err := os.Stat(arg.Block.Started); return err == nil })
	done := make(chan error, 1)
	go func() { done <- m.Shutdown(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a call was running", err)
	default:
	}
	os.WriteFile(arg.Block.Release, nil, 0o600)
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("the call running when Shutdown came: %v, want its result", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, _, err := d.Get(ctx, "k"); !errors.Is(err, mp.ErrClosed) {
		t.Fatalf("after Shutdown: %v, want ErrClosed", err)
	}
}
