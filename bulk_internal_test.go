//go:build linux

package mp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// bigBytes returns n bytes of a pattern.
func bigBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

type bulkHolder struct {
	Name string
	Seq  []byte
	Xs   []float64
	Ptr  *[]int32
}

// A big []byte, string, []float64 and struct fields travel by one descriptor each and arrive
// intact; small ones travel inline, without a descriptor.
func TestBulkRoundTrip(t *testing.T) {
	big := bigBytes(3 << 20)
	xs := make([]float64, 1<<18)
	for i := range xs {
		xs[i] = float64(i) / 3
	}
	is := make([]int32, 1<<19)
	for i := range is {
		is[i] = int32(-i)
	}
	b, fds, err := encodeArg("arg", big)
	if err != nil || len(fds) != 1 || len(b) > 256 {
		t.Fatalf("[]byte: %d bytes, %d fds, %v", len(b), len(fds), err)
	}
	var got []byte
	if err := decodeArg("arg", b, fds, &got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("[]byte: %v, equal %v", err, bytes.Equal(got, big))
	}

	b, fds, err = encodeArg("arg", string(big))
	if err != nil || len(fds) != 1 {
		t.Fatalf("string: %d fds, %v", len(fds), err)
	}
	var s string
	if err := decodeArg("arg", b, fds, &s); err != nil || s != string(big) {
		t.Fatalf("string: %v", err)
	}

	h := bulkHolder{Name: "small", Seq: big, Xs: xs, Ptr: &is}
	b, fds, err = encodeArg("arg", h)
	if err != nil || len(fds) != 3 {
		t.Fatalf("struct: %d fds, %v", len(fds), err)
	}
	var hg bulkHolder
	if err := decodeArg("arg", b, fds, &hg); err != nil {
		t.Fatal(err)
	}
	if hg.Name != "small" || !bytes.Equal(hg.Seq, big) || len(hg.Xs) != len(xs) || hg.Xs[999] != xs[999] || hg.Ptr == nil || (*hg.Ptr)[12345] != -12345 {
		t.Fatalf("struct arrived changed")
	}
	if h.Seq == nil || h.Ptr != &is {
		t.Fatal("the sender's value was changed")
	}

	for _, v := range []any{bigBytes(1000), "small", []float64{1, 2}, bulkHolder{Seq: []byte("x")}} {
		b, fds, err := encodeArg("arg", v)
		if err != nil || len(fds) != 0 || hasHandles(b) {
			t.Fatalf("%T: %d fds, %v: a small value must travel inline", v, len(fds), err)
		}
	}
	// Results are inline for now, and a Call's Arg (which leaves the machine) is too.
	if _, fds, err := encodeWith("result", big, false, false); err != nil || len(fds) != 0 {
		t.Fatalf("result: %d fds, %v", len(fds), err)
	}
}

// N encodings of the same big value share one segment; a value changed in place is encoded anew.
func TestBulkCacheSameValue(t *testing.T) {
	big := bigBytes(2 << 20)
	var segs []int
	for range 5 {
		_, fds, err := encodeArg("arg", big)
		if err != nil || len(fds) != 1 {
			t.Fatal(len(fds), err)
		}
		segs = append(segs, fds...)
	}
	defer closeFDs(segs)
	inode := func(fd int) string {
		l, err := readlinkFD(fd)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, fd := range segs[1:] {
		if inode(fd) != inode(segs[0]) {
			t.Fatalf("segment %s, then %s: the same value was put in two segments", inode(segs[0]), inode(fd))
		}
	}
	big[100]++
	b, fds, err := encodeArg("arg", big)
	if err != nil {
		t.Fatal(err)
	}
	if inode(fds[0]) == inode(segs[0]) {
		t.Fatal("a value changed in place reused its old segment")
	}
	var got []byte
	if err := decodeArg("arg", b, fds, &got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("after a change in place: %v", err)
	}
}

// A hostile bulk reference fails with ErrDecode or ErrProtocol and leaks no descriptor.
func TestBulkHostile(t *testing.T) {
	data := bigBytes(1 << 16)
	before := fdCount(t)
	ref := func(size int) handleRef { return handleRef{Kind: bulkKind, Meta: strconv.Itoa(size)} }
	cases := []struct {
		name string
		refs []handleRef
		fds  func() []int
	}{
		{"size larger than the segment", []handleRef{ref(1 << 20)}, func() []int { return []int{memfd(t, 1<<16, data)} }},
		{"size smaller than the segment", []handleRef{ref(1 << 10)}, func() []int { return []int{memfd(t, 1<<16, data)} }},
		{"negative size", []handleRef{ref(-5)}, func() []int { return []int{memfd(t, 1<<16, data)} }},
		{"size not a number", []handleRef{{Kind: bulkKind, Meta: "lots"}}, func() []int { return []int{memfd(t, 1<<16, data)} }},
		{"missing descriptor", []handleRef{ref(1 << 16)}, func() []int { return nil }},
		{"extra descriptors", []handleRef{{Kind: bulkKind, Meta: "65536", N: 3}}, func() []int {
			return []int{memfd(t, 1<<16, data), memfd(t, 1<<16, data), memfd(t, 1<<16, data)}
		}},
		{"a pipe, not a segment", []handleRef{ref(1 << 16)}, func() []int {
			p, err := pipeFDs()
			if err != nil {
				t.Fatal(err)
			}
			return p[:]
		}},
		{"position out of range", []handleRef{{Path: []int{7}, Kind: bulkKind, Meta: "65536"}}, func() []int { return []int{memfd(t, 1<<16, data)} }},
	}
	for _, c := range cases {
		b := envelopeOf(t, []byte(nil), c.refs...)
		var got []byte
		err := decodeArg("arg", b, c.fds(), &got)
		if err == nil {
			t.Fatalf("%s: decoded %d bytes", c.name, len(got))
		}
		if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrProtocol) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	// Not a slot a bulk value may fill: a []string, an int.
	var ss []string
	if err := decodeArg("arg", envelopeOf(t, ss, ref(1<<16)), []int{memfd(t, 1<<16, data)}, &ss); !errors.Is(err, ErrDecode) {
		t.Fatalf("[]string: %v", err)
	}
	var n int
	if err := decodeArg("arg", envelopeOf(t, n, ref(1<<16)), []int{memfd(t, 1<<16, data)}, &n); !errors.Is(err, ErrDecode) {
		t.Fatalf("int: %v", err)
	}
	// A size that is not a whole number of elements.
	var fs []float64
	if err := decodeArg("arg", envelopeOf(t, fs, ref(1<<16-4)), []int{memfd(t, 1<<16-4, data[:1<<16-4])}, &fs); !errors.Is(err, ErrDecode) {
		t.Fatalf("[]float64 of 65532 bytes: %v", err)
	}
	if after := fdCount(t); after != before {
		t.Fatalf("%d descriptors before, %d after: a hostile reference leaked some", before, after)
	}
}

// A big value sent over a Conn travels by shared memory and arrives intact.
func TestBulkConn(t *testing.T) {
	a, b, err := Pipe[bulkHolder]()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	big := bigBytes(5 << 20)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- a.Send(ctx, bulkHolder{Name: "conn", Seq: big}) }()
	got, err := b.Recv(ctx)
	if err != nil || got.Name != "conn" || !bytes.Equal(got.Seq, big) {
		t.Fatalf("Recv: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBulk measures one encode and decode of a []byte inline and by shared memory (a
// value changed since its last send, so the cache does not help): the measure of
// BulkThreshold.
func BenchmarkBulk(b *testing.B) {
	for _, size := range []int{1 << 20, 4 << 20, 64 << 20} {
		v := bigBytes(size)
		for _, shared := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/inline", size>>10)
			if shared {
				name = fmt.Sprintf("%dKiB/shm", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					v[0]++
					enc, fds, err := encodeWith("arg", v, true, shared)
					if err != nil || (len(fds) == 1) != shared {
						b.Fatal(len(fds), err)
					}
					var got []byte
					if err := decodeArg("arg", enc, fds, &got); err != nil || len(got) != size {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// argExecutor runs nothing: it takes each call's argument with Arg, as an executor that sends
// calls off the machine does, and fails the call with what it got.
type argExecutor struct{ got chan []byte }

func (e argExecutor) Workers() int { return 1 }

func (e argExecutor) Execute(ctx context.Context, c *Call) func(error) {
	b, err := c.Arg()
	if err == nil {
		e.got <- b
		err = errors.New("not run")
	}
	c.Finish(Result{Err: err})
	return func(error) {}
}

var bulkLen = Register("test.bulk_len", func(ctx context.Context, b []byte) (int, error) { return len(b), nil })

// Call.Arg, whose bytes leave the machine, has big values inline, for Submit and for Map.
func TestBulkArgInline(t *testing.T) {
	ctx := context.Background()
	ex := argExecutor{got: make(chan []byte, 4)}
	big := bigBytes(2 << 20)
	Submit(ctx, ex, bulkLen, big).Wait(ctx)
	Map(ctx, ex, bulkLen, [][]byte{big})
	for range 2 {
		b := <-ex.got
		if hasHandles(b) || len(b) < len(big) {
			t.Fatalf("Arg: %d bytes, handles %v; want the value inline", len(b), hasHandles(b))
		}
	}
}

// A big value arrives mapped over its segment, not copied: its bytes are right, a write to it
// changes the receiver's copy only (copy on write: the segment, which later receivers map, keeps
// the sender's bytes), and once it is garbage its memory goes back to ordinary memory.
func TestBulkMappedCopyOnWrite(t *testing.T) {
	big := bigBytes(4 << 20)
	mapped, unmapped := bulkMapped.Load(), bulkUnmapped.Load()
	decode := func() []byte {
		t.Helper()
		b, fds, err := encodeArg("arg", big)
		if err != nil || len(fds) != 1 {
			t.Fatalf("encode: %d fds, %v", len(fds), err)
		}
		var got []byte
		if err := decodeArg("arg", b, fds, &got); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("decode: %v, equal %v", err, bytes.Equal(got, big))
		}
		return got
	}
	first := decode()
	if n := bulkMapped.Load() - mapped; n != 1 {
		t.Fatalf("%d values mapped; want 1 (the segment was read, not mapped)", n)
	}
	for i := range first {
		first[i] = ^first[i] // every page copied on write
	}
	second := decode() // the same segment, from the sender's cache
	if !bytes.Equal(second, big) {
		t.Fatal("a receiver's write reached the segment: the next receiver saw it")
	}
	if first[0] != ^big[0] || first[len(first)-1] != ^big[len(big)-1] {
		t.Fatal("the receiver's writes were lost")
	}
	var xs []float64
	b, fds, err := encodeArg("arg", make([]float64, 1<<18))
	if err != nil || len(fds) != 1 {
		t.Fatalf("[]float64: %d fds, %v", len(fds), err)
	}
	if err := decodeArg("arg", b, fds, &xs); err != nil || len(xs) != 1<<18 || xs[12345] != 0 {
		t.Fatalf("[]float64: %v", err)
	}
	xs[12345] = 1.5
	first, second, xs = nil, nil, nil
	waitFor(t, "the mapped values' memory given back", func() bool {
		runtime.GC()
		return bulkUnmapped.Load()-unmapped == 3
	})
}

// waitFor waits, boundedly, until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	bulkRepeat = Register("test.bulk_repeat", func(ctx context.Context, n int) ([]byte, error) {
		return bigBytes(n), nil
	})
	bulkIdentity32 = Register("test.bulk_identity32", func(ctx context.Context, x int32) (int32, error) { return x, nil })
)

// A Map chunk's big results come back through shared memory, mapped by the parent, and the
// results of an Executor's encoded call are put back inline. Results of a plain type, which
// travel as raw memory, are never mistaken for a reply with descriptors, even when their bytes
// start as an encoding with handles does.
func TestBulkChunkResults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := NewPool(ctx, WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const size = 2 << 20
	mapped := bulkMapped.Load()
	rs, err := Map(ctx, p, bulkRepeat, []int{size, 100, size}, WithChunkSize(3))
	if err != nil || len(rs) != 3 || !bytes.Equal(rs[0], bigBytes(size)) || !bytes.Equal(rs[1], bigBytes(100)) || !bytes.Equal(rs[2], rs[0]) {
		t.Fatalf("Map: %d results, %v", len(rs), err)
	}
	if n := bulkMapped.Load() - mapped; n != 2 {
		t.Fatalf("%d results mapped from shared memory; want 2", n)
	}

	// handleTagPrefix read as a little-endian int32, with a zero byte after it.
	var tagged int32
	for i, c := range handleTagPrefix {
		tagged |= int32(c) << (8 * i)
	}
	xs, err := Map(ctx, p, bulkIdentity32, []int32{tagged, 1, 2}, WithChunkSize(3))
	if err != nil || len(xs) != 3 || xs[0] != tagged {
		t.Fatalf("Map of int32 results that look like handles: %v, %v", xs, err)
	}

	var got Result
	done := make(chan struct{})
	c, err := NewCall("test.bulk_repeat", mustEncodeSlice(t, []int{size}), 1, func(r Result) { got = r; close(done) })
	if err != nil {
		t.Fatal(err)
	}
	p.Execute(ctx, c)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the encoded call did not finish")
	}
	var back [][]byte
	if got.Err != nil || hasHandles(got.Value) || decodeArg("results", got.Value, nil, &back) != nil || len(back) != 1 || !bytes.Equal(back[0], bigBytes(size)) {
		t.Fatalf("an encoded chunk's big result: %v, handles %v", got.Err, hasHandles(got.Value))
	}
}

func mustEncodeSlice[T any](t *testing.T, xs []T) []byte {
	t.Helper()
	b, _, err := encodeSlice("arg", xs, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Run's big result comes back through shared memory; a Process whose result nobody reads closes
// the result's descriptors.
func TestBulkRunResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const size = 3 << 20
	mapped := bulkMapped.Load()
	got, err := Run(ctx, bulkRepeat, size)
	if err != nil || !bytes.Equal(got, bigBytes(size)) {
		t.Fatalf("Run: %d bytes, %v", len(got), err)
	}
	if n := bulkMapped.Load() - mapped; n != 1 {
		t.Fatalf("%d results mapped from shared memory; want 1", n)
	}
	before := fdCount(t)
	p := NewProcess(bulkRepeat, size)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if after := fdCount(t); after > before {
		t.Fatalf("%d descriptors open after a Process with a big result, %d before", after, before)
	}
}

// BenchmarkBulkApply measures the round trip of an Apply whose argument is a []byte of each size,
// sent inline through the pipe and by shared memory (the parent's threshold moved for the
// measure; a value changed before each call, so the sender's cache does not help): the measure of
// BulkThreshold end to end, worker included.
func BenchmarkBulkApply(b *testing.B) {
	ctx := context.Background()
	p, err := NewPool(ctx, WithWorkers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	defer func() { bulkThreshold = BulkThreshold }()
	for _, size := range []int{4 << 10, 16 << 10, 32 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20} {
		v := bigBytes(size)
		for _, shared := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/inline", size>>10)
			bulkThreshold = math.MaxInt
			if shared {
				name = fmt.Sprintf("%dKiB/shm", size>>10)
				bulkThreshold = 1
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					v[0]++
					if n, err := Apply(ctx, p, bulkLen, v); err != nil || n != size {
						b.Fatal(n, err)
					}
				}
			})
		}
	}
}
