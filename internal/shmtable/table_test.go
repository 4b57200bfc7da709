//go:build linux

package shmtable

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newTable(t testing.TB, opts Options) *Table {
	t.Helper()
	tb, err := Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	return tb
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCheck(t testing.TB, tb *Table) {
	t.Helper()
	if err := tb.Check(testCtx(t)); err != nil {
		t.Fatal("Check:", err)
	}
}

// snapshot returns the table's contents.
func snapshot(t testing.TB, tb *Table) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := tb.Range(testCtx(t), func(k, v []byte, rev uint64) bool {
		if _, dup := m[string(k)]; dup {
			t.Errorf("Range gave key %q twice", k)
		}
		m[string(k)] = string(v)
		return true
	})
	if err != nil && !errors.Is(err, ErrOwnerDead) {
		t.Fatal("Range:", err)
	}
	return m
}

func TestBasicOps(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	if _, _, found, err := tb.Get(ctx, []byte("a"), nil); found || err != nil {
		t.Fatalf("Get of a new table = found %v, %v", found, err)
	}
	r1, err := tb.Set(ctx, []byte("a"), []byte("one"))
	if err != nil || r1 == 0 {
		t.Fatalf("Set = %d, %v", r1, err)
	}
	r2, _ := tb.Set(ctx, []byte("b"), []byte("two"))
	r3, _ := tb.Set(ctx, []byte("a"), []byte("uno"))
	if !(r1 < r2 && r2 < r3) {
		t.Fatalf("revisions %d, %d, %d do not increase", r1, r2, r3)
	}
	v, rev, found, err := tb.Get(ctx, []byte("a"), []byte("x:"))
	if string(v) != "x:uno" || rev != r3 || !found || err != nil {
		t.Fatalf("Get(a) = %q, %d, %v, %v; want x:uno, %d", v, rev, found, err, r3)
	}
	if n, _ := tb.Len(ctx); n != 2 {
		t.Fatalf("Len = %d; want 2", n)
	}
	// CompareAndSwap by revision; 0 means absent.
	if rev, ok, _ := tb.CompareAndSwap(ctx, []byte("a"), []byte("stale"), r1); ok || rev != r3 {
		t.Fatalf("CAS with an old revision = %d, %v; want %d, false", rev, ok, r3)
	}
	if _, ok, _ := tb.CompareAndSwap(ctx, []byte("a"), []byte("new"), 0); ok {
		t.Fatal("CAS with revision 0 swapped a present key")
	}
	r4, ok, err := tb.CompareAndSwap(ctx, []byte("a"), []byte("ein"), r3)
	if !ok || r4 <= r3 || err != nil {
		t.Fatalf("CAS with the current revision = %d, %v, %v", r4, ok, err)
	}
	if _, ok, _ := tb.CompareAndSwap(ctx, []byte("c"), []byte("drei"), 0); !ok {
		t.Fatal("CAS with revision 0 did not insert an absent key")
	}
	if found, _ := tb.Delete(ctx, []byte("b")); !found {
		t.Fatal("Delete(b) found nothing")
	}
	if found, _ := tb.Delete(ctx, []byte("b")); found {
		t.Fatal("a second Delete(b) found it")
	}
	want := map[string]string{"a": "ein", "c": "drei"}
	if got := snapshot(t, tb); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("contents %v; want %v", got, want)
	}
	// Empty keys and values are entries like others.
	if _, err := tb.Set(ctx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, found, _ := tb.Get(ctx, []byte{}, nil); !found {
		t.Fatal("the empty key is not found")
	}
	mustCheck(t, tb)
	if err := tb.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := tb.Len(ctx); n != 0 {
		t.Fatalf("Len after Clear = %d", n)
	}
	if _, _, found, _ := tb.Get(ctx, []byte("a"), nil); found {
		t.Fatal("a key survived Clear")
	}
	mustCheck(t, tb)
}

// TestManyKeys grows the index and the file far past their first sizes, within one process, and
// checks every entry after.
func TestManyKeys(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	const n = 5000
	for i := range n {
		if _, err := tb.Set(ctx, fmt.Appendf(nil, "k%d", i), bytes.Repeat([]byte{byte(i)}, i%50)); err != nil {
			t.Fatal(i, err)
		}
	}
	for i := 0; i < n; i += 2 {
		tb.Delete(ctx, fmt.Appendf(nil, "k%d", i))
	}
	for i := range n {
		v, _, found, err := tb.Get(ctx, fmt.Appendf(nil, "k%d", i), nil)
		if err != nil || found != (i%2 == 1) || found && !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, i%50)) {
			t.Fatalf("Get(k%d) = %v, %v, %v", i, v, found, err)
		}
	}
	if l, _ := tb.Len(ctx); l != n/2 {
		t.Fatalf("Len = %d; want %d", l, n/2)
	}
	if size, _ := tb.Size(ctx); size <= minSize {
		t.Fatalf("the file is %d bytes after %d entries: it did not grow", size, n)
	}
	mustCheck(t, tb)
}

// TestSpaceReused runs 10,000 set/delete cycles of sizes from 1 byte to 4 KiB over 100 keys: the
// file must stay near the live data's size (under 400 KiB live), not grow with the cycles.
func TestSpaceReused(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	var at1000 int64
	for i := range 10000 {
		k := fmt.Appendf(nil, "k%d", rng.IntN(100))
		if _, err := tb.Set(ctx, k, buf[:1+rng.IntN(4096)]); err != nil {
			t.Fatal(i, err)
		}
		tb.Delete(ctx, fmt.Appendf(nil, "k%d", rng.IntN(100)))
		if i == 999 {
			at1000, _ = tb.Size(ctx)
		}
	}
	size, _ := tb.Size(ctx)
	t.Logf("file: %d bytes after 1,000 cycles, %d after 10,000", at1000, size)
	if size > 2<<20 {
		t.Fatalf("the file is %d bytes after 10,000 cycles of at most 100 live entries of 4 KiB: freed space is not reused", size)
	}
	mustCheck(t, tb)
}

func TestFull(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{MaxSize: minSize})
	val := make([]byte, 1000)
	n := 0
	for ; ; n++ {
		_, err := tb.Set(ctx, fmt.Appendf(nil, "k%d", n), val)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil || n > 100 {
			t.Fatalf("Set %d = %v; want ErrFull within 100 Sets of 1 KB in 64 KiB", n, err)
		}
	}
	if _, _, found, _ := tb.Get(ctx, fmt.Appendf(nil, "k%d", n), nil); found {
		t.Fatal("the Set that failed with ErrFull stored its entry")
	}
	if l, _ := tb.Len(ctx); l != n {
		t.Fatalf("Len = %d after %d Sets succeeded", l, n)
	}
	mustCheck(t, tb)
	if _, err := tb.Set(ctx, []byte("big"), make([]byte, minSize)); !errors.Is(err, ErrFull) {
		t.Fatalf("Set of a value larger than the limit = %v; want ErrFull", err)
	}
	tb.Delete(ctx, []byte("k0"))
	tb.Delete(ctx, []byte("k1"))
	if _, err := tb.Set(ctx, fmt.Appendf(nil, "k%d", n), val); err != nil {
		t.Fatalf("Set after Deletes made room = %v", err)
	}
	mustCheck(t, tb)
}

func TestLockedAndRange(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	// A batch: SetMany then GetMany in one Locked each.
	err := tb.Locked(ctx, func(tx *Tx) error {
		for i := range 100 {
			if _, err := tx.Set(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = tb.Locked(ctx, func(tx *Tx) error {
		var dst []byte
		for i := range 100 {
			v, _, found, err := tx.Get(fmt.Appendf(nil, "k%d", i), dst[:0])
			if err != nil || !found {
				return fmt.Errorf("k%d: %v %v", i, found, err)
			}
			dst = v
			got = append(got, string(v))
		}
		return nil
	})
	if err != nil || len(got) != 100 || got[42] != "v42" {
		t.Fatalf("GetMany = %v, %v", got, err)
	}
	// Range inside a Locked refuses writes; fn's error comes back.
	sentinel := errors.New("stop")
	err = tb.Locked(ctx, func(tx *Tx) error {
		n := 0
		err := tx.Range(func(k, v []byte, rev uint64) bool {
			n++
			if _, err := tx.Set(k, nil); !errors.Is(err, ErrInvalid) {
				t.Errorf("Set inside Range = %v; want ErrInvalid", err)
			}
			return n < 10
		})
		if err != nil || n != 10 {
			t.Errorf("Range stopped after %d, %v; want 10", n, err)
		}
		return sentinel
	})
	if err != sentinel {
		t.Fatalf("Locked returned %v; want fn's error", err)
	}
	// Table.Range's fn may use the table: it runs on a snapshot, without the lock.
	n := 0
	err = tb.Range(ctx, func(k, v []byte, rev uint64) bool {
		n++
		_, err := tb.Delete(ctx, k)
		return err == nil
	})
	if err != nil || n != 100 {
		t.Fatalf("Range with Deletes saw %d entries, %v", n, err)
	}
	if l, _ := tb.Len(ctx); l != 0 {
		t.Fatalf("Len = %d after deleting every entry from Range", l)
	}
	// A Tx kept past its Locked is a bug: it panics.
	var kept *Tx
	tb.Locked(ctx, func(tx *Tx) error { kept = tx; return nil })
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Locked") {
				t.Errorf("a Tx used after Locked: recover() = %v; want a panic naming Locked", r)
			}
		}()
		kept.Len()
	}()
	mustCheck(t, tb)
}

func TestClosed(t *testing.T) {
	ctx := testCtx(t)
	var nilT *Table
	if _, err := nilT.Set(ctx, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set on a nil Table = %v", err)
	}
	if _, err := new(Table).Len(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Len on a zero Table = %v", err)
	}
	tb, err := Create(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb.Close()
	if err := tb.Close(); err != nil {
		t.Fatal("a second Close:", err)
	}
	if _, _, _, err := tb.Get(ctx, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if tb.FD() != -1 {
		t.Fatal("FD after Close is not -1")
	}
}

func TestLockWaitHonoursCtx(t *testing.T) {
	tb := newTable(t, Options{})
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- tb.Locked(context.Background(), func(tx *Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := tb.Set(ctx, []byte("k"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Set while the lock is held = %v; want the ctx's error", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCheck(t, tb)
}

func TestOptionsInvalid(t *testing.T) {
	for _, o := range []Options{{MaxSize: 1}, {MaxSize: MaxMaxSize + 1}, {InitialSize: 1}, {InitialSize: 2 << 20, MaxSize: 1 << 20}} {
		if tb, err := Create(o); !errors.Is(err, ErrInvalid) {
			tb.Close()
			t.Errorf("Create(%+v) = %v; want ErrInvalid", o, err)
		}
	}
}

// TestAttachRejects gives Attach descriptors that are not tables: each is an ErrNotTable error.
func TestAttachRejects(t *testing.T) {
	memfd := func(sealed bool, size int, fill func([]byte)) int {
		fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		unix.Ftruncate(fd, int64(size))
		if fill != nil {
			m, _ := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			fill(m)
			unix.Munmap(m)
		}
		if sealed {
			unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK)
		}
		return fd
	}
	header := func(tweak func([]byte)) func([]byte) {
		return func(m []byte) {
			tb, _ := Create(Options{})
			copy(m, tb.mem[:heapStart])
			tb.Close()
			tweak(m)
		}
	}
	ne := binary.NativeEndian
	f, _ := os.CreateTemp(t.TempDir(), "f")
	f.Truncate(minSize)
	ffd, _ := unix.Dup(int(f.Fd()))
	f.Close()
	cases := map[string]int{
		"regular file": ffd,
		"not sealed":   memfd(false, minSize, header(func([]byte) {})),
		"zeros":        memfd(true, minSize, nil),
		"too small":    memfd(true, 4096, header(func([]byte) {})),
		"bad magic":    memfd(true, minSize, header(func(m []byte) { m[0] ^= 1 })),
		"bad version":  memfd(true, minSize, header(func(m []byte) { ne.PutUint32(m[hVersion:], 99) })),
		"size > file":  memfd(true, minSize, header(func(m []byte) { ne.PutUint64(m[hSize:], 1<<20) })),
		"max < file":   memfd(true, 2*minSize, header(func(m []byte) { ne.PutUint64(m[hMaxSize:], minSize) })),
		"max huge":     memfd(true, minSize, header(func(m []byte) { ne.PutUint64(m[hMaxSize:], 1<<62) })),
	}
	for name, fd := range cases {
		if tb, err := Attach(fd); !errors.Is(err, ErrNotTable) {
			tb.Close()
			t.Errorf("%s: Attach = %v; want ErrNotTable", name, err)
		}
	}
	if _, err := Attach(-1); !errors.Is(err, ErrInvalid) {
		t.Errorf("Attach(-1) = %v", err)
	}
}

// TestGoroutines runs Locked increments, Sets, Gets and Deletes from 8 goroutines at once: the
// count must be exact and the table whole.
func TestGoroutines(t *testing.T) {
	ctx := testCtx(t)
	tb := newTable(t, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var dst []byte
			for i := range 500 {
				if err := increment(ctx, tb); err != nil {
					t.Error(err)
					return
				}
				k := fmt.Appendf(nil, "g%d-%d", g, i%37)
				tb.Set(ctx, k, bytes.Repeat([]byte{byte(i)}, i%300))
				dst, _, _, _ = tb.Get(ctx, k, dst[:0])
				if i%3 == 0 {
					tb.Delete(ctx, k)
				}
			}
		})
	}
	wg.Wait()
	v, _, _, err := tb.Get(ctx, counterKey, nil)
	if err != nil || binary.LittleEndian.Uint64(v) != 8*500 {
		t.Fatalf("counter = %v, %v; want %d", v, err, 8*500)
	}
	mustCheck(t, tb)
}

// TestLifetime: a table is a memfd, named nowhere; after Close this process has neither its
// descriptor nor its mapping.
func TestLifetime(t *testing.T) {
	before, _ := os.ReadDir("/dev/shm")
	tb, err := Create(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb.Set(testCtx(t), []byte("k"), []byte("v"))
	if n := countTableFDs(t); n != 1 {
		t.Fatalf("%d descriptors of mp-table open; want 1", n)
	}
	tb.Close()
	if n := countTableFDs(t); n != 0 {
		t.Fatalf("%d descriptors of mp-table open after Close", n)
	}
	maps, _ := os.ReadFile("/proc/self/maps")
	if bytes.Contains(maps, []byte("memfd:mp-table")) {
		t.Fatal("the table is still mapped after Close")
	}
	after, _ := os.ReadDir("/dev/shm")
	if len(after) != len(before) {
		t.Fatalf("/dev/shm had %d entries, has %d", len(before), len(after))
	}
}

func countTableFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "/memfd:mp-table") {
			n++
		}
	}
	return n
}

// TestClassOf checks the computed size class against a search of the class table.
func TestClassOf(t *testing.T) {
	search := func(n uint64) int {
		for i, s := range classSizes {
			if s >= n {
				return i
			}
		}
		return len(classSizes)
	}
	check := func(n uint64) {
		if got, want := classOf(n), search(n); got != want {
			t.Fatalf("classOf(%d) = %d; want %d", n, got, want)
		}
	}
	for n := uint64(1); n < 1<<16; n++ {
		check(n)
	}
	for _, s := range classSizes {
		check(s - 1)
		check(s)
		check(s + 1)
	}
}

// TestOutlivesCreator: the table lives as long as any process holds it — the creator closing
// its handle does not take it from a child that attached it.
func TestOutlivesCreator(t *testing.T) {
	tb, err := Create(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if _, err := tb.Set(testCtx(t), []byte("k"), []byte("still here")); err != nil {
		t.Fatal(err)
	}
	ch := startChildStdin(t, tb, "outlive")
	ch.ready(t)
	tb.Close()
	if n := countTableFDs(t); n != 0 {
		t.Fatalf("%d descriptors of the table left in the creator after Close", n)
	}
	ch.stdin.Close()
	line := ch.line(t)
	if st := ch.wait(t); !st.Success() || line != "still here true <nil>\n" {
		t.Fatalf("the child read %q after the creator closed the table (exit %v); want the value", line, st)
	}
}

// TestCountOp: the operation counter is one number for every handle on the table, and is
// harmless on a closed one.
func TestCountOp(t *testing.T) {
	tb := newTable(t, Options{})
	for range 3 {
		tb.CountOp()
	}
	fd, err := tb.Dup()
	if err != nil {
		t.Fatal(err)
	}
	other, err := Attach(fd)
	if err != nil {
		t.Fatal(err)
	}
	if n := other.Ops(); n != 3 {
		t.Fatalf("Ops of a second handle = %d; want 3", n)
	}
	other.CountOp()
	if n := tb.Ops(); n != 4 {
		t.Fatalf("Ops after a count through the second handle = %d; want 4", n)
	}
	if _, err := tb.Set(testCtx(t), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if n := tb.Ops(); n != 4 {
		t.Fatalf("Ops after a Set = %d; want 4 (the table does not count for its users)", n)
	}
	mustCheck(t, tb)
	other.Close()
	other.CountOp()
	if n := other.Ops(); n != 0 {
		t.Fatalf("Ops of a closed handle = %d; want 0", n)
	}
}
