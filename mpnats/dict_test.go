package mpnats

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mp-go/mp"
)

type point struct{ X, Y int }

// incr adds arg to the count, refusing to go past 1,000,000 (an error from the function).
var incr = mp.RegisterUpdate("mpnats_test.incr", func(ctx context.Context, cur int, ok bool, arg int) (int, error) {
	if cur+arg > 1_000_000 {
		return 0, errors.New("too many")
	}
	return cur + arg, nil
})

func TestDictLocal(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := NewDict[point, string](ctx, c, "points")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, ok, err := d.Get(ctx, point{1, 2}); err != nil || ok {
		t.Fatalf("Get of a missing key: ok %v, %v", ok, err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	changes, err := d.Watch(watchCtx)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	expect := func(w Change[point, string]) {
		t.Helper()
		select {
		case ch := <-changes:
			if ch.Err != nil || ch.Key != w.Key || ch.Value != w.Value || ch.Deleted != w.Deleted || ch.Rev <= last {
				t.Fatalf("Watch reported %+v; want %+v with a revision above %d", ch, w, last)
			}
			last = ch.Rev
		case <-time.After(10 * time.Second):
			t.Fatalf("Watch did not report %+v within 10 s", w)
		}
	}
	if err := d.Set(ctx, point{1, 2}, "a"); err != nil {
		t.Fatal(err)
	}
	expect(Change[point, string]{Key: point{1, 2}, Value: "a"})
	v, rev, ok, err := d.GetRev(ctx, point{1, 2})
	if err != nil || !ok || v != "a" || rev == 0 {
		t.Fatalf("GetRev = %q, %d, %v, %v", v, rev, ok, err)
	}
	if _, ok, err := d.CompareAndSwap(ctx, point{1, 2}, 0, "x"); err != nil || ok {
		t.Fatalf("CAS at rev 0 of a present key: ok %v, %v; want false", ok, err)
	}
	if cur, ok, err := d.CompareAndSwap(ctx, point{1, 2}, rev+100, "x"); err != nil || ok || cur != rev {
		t.Fatalf("CAS at a wrong rev = %d, %v, %v; want %d, false", cur, ok, err, rev)
	}
	nrev, ok, err := d.CompareAndSwap(ctx, point{1, 2}, rev, "b")
	if err != nil || !ok || nrev <= rev {
		t.Fatalf("CAS at the right rev = %d, %v, %v", nrev, ok, err)
	}
	expect(Change[point, string]{Key: point{1, 2}, Value: "b"})
	if _, ok, err := d.CompareAndSwap(ctx, point{3, 4}, 0, "c"); err != nil || !ok {
		t.Fatalf("CAS at rev 0 of a missing key: ok %v, %v; want true", ok, err)
	}
	expect(Change[point, string]{Key: point{3, 4}, Value: "c"})
	keys, err := d.Keys(ctx)
	sort.Slice(keys, func(i, j int) bool { return keys[i].X < keys[j].X })
	if err != nil || !slices.Equal(keys, []point{{1, 2}, {3, 4}}) {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	items, err := d.Items(ctx)
	if err != nil || len(items) != 2 || items[point{1, 2}] != "b" || items[point{3, 4}] != "c" {
		t.Fatalf("Items = %v, %v", items, err)
	}
	if ok, err := d.Delete(ctx, point{3, 4}); err != nil || !ok {
		t.Fatalf("Delete = %v, %v; want true", ok, err)
	}
	expect(Change[point, string]{Key: point{3, 4}, Deleted: true})
	if ok, err := d.Delete(ctx, point{3, 4}); err != nil || ok {
		t.Fatalf("Delete again = %v, %v; want false", ok, err)
	}
	if n, err := d.Len(ctx); err != nil || n != 1 {
		t.Fatalf("Len = %d, %v; want 1", n, err)
	}
	stopWatch()
	for range changes { // the channel closes once ctx ends
	}
	if err := d.Set(ctx, point{5, 5}, string(make([]byte, 2<<20))); !errors.Is(err, mp.ErrTooLarge) {
		t.Fatalf("Set of a 2 MiB value: %v; want ErrTooLarge", err)
	}
	if _, err := NewDict[string, string](ctx, c, "points"); !errors.Is(err, mp.ErrInvalidOption) {
		t.Fatalf("NewDict with other types on an existing name: %v; want ErrInvalidOption", err)
	}

	counts, err := NewDict[string, int](ctx, c, "counts")
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := counts.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of an empty dict = %v, %v; want none", keys, err)
	}
	if items, err := counts.Items(ctx); err != nil || len(items) != 0 {
		t.Fatalf("Items of an empty dict = %v, %v; want none", items, err)
	}
	if v, err := Update(ctx, counts, "n", incr, 5); err != nil || v != 5 {
		t.Fatalf("Update of a missing key = %d, %v; want 5", v, err)
	}
	if _, err := Update(ctx, counts, "n", incr, 2_000_000); err == nil || err.Error() != "too many" {
		t.Fatalf("Update whose function fails: %v; want its error", err)
	}
	if v, err := Add(ctx, counts, "n", 3); err != nil || v != 8 {
		t.Fatalf("Add = %d, %v; want 8", v, err)
	}
	if err := counts.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
}

// incrMany runs Update(incr, 1) N times on the key "n" of the dict Name.
var incrMany = mp.Register("mpnats_test.incrMany", func(ctx context.Context, a childArg) (struct{}, error) {
	c, err := dial(a.URL)
	if err != nil {
		return struct{}{}, err
	}
	defer c.Close()
	d, err := NewDict[string, int](ctx, c, a.Name)
	if err != nil {
		return struct{}{}, err
	}
	for range a.N {
		if _, err := Update(ctx, d, "n", incr, 1); err != nil {
			return struct{}{}, err
		}
	}
	return struct{}{}, nil
})

// Three processes update one key at once: no update is lost.
func TestDictUpdateAcrossProcesses(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	url, c := listenServer(t)
	d, err := NewDict[string, int](ctx, c, "shared")
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changes, err := d.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := mp.Run(ctx, incrMany, childArg{URL: url, Name: "shared", N: n})
			errs <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := incrMany.Call(ctx, childArg{URL: url, Name: "shared", N: n})
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := d.Get(ctx, "n"); err != nil || !ok || v != 3*n {
		t.Fatalf("after 3×%d Updates the count is %d (ok %v, %v); want %d", n, v, ok, err, 3*n)
	}
	// The watcher saw the writes of all three processes in order, up to the last one. (The
	// bucket keeps one revision per key, so a watcher that lags behind writes to one key may
	// skip to a later value: the values it sees grow, and the last is there.)
	timeout := time.After(10 * time.Second)
	seen, last := 0, 0
	for last < 3*n {
		select {
		case ch := <-changes:
			if ch.Err != nil || ch.Key != "n" || ch.Value <= last {
				t.Fatalf("change after the value %d = %+v; want a greater value of \"n\"", last, ch)
			}
			last = ch.Value
			seen++
		case <-timeout:
			t.Fatalf("the watcher had reached the value %d of %d after 10 s", last, 3*n)
		}
	}
	t.Logf("the watcher saw %d of the %d writes", seen, 3*n)
	stopWatch()
	for range changes {
	}
}
