//go:build linux

package mp

// Fuzz targets for every decoder that reads what another process wrote: a Conn's stream
// (FuzzConnRecv), the handle envelope with the descriptors that came with it (FuzzDecodeArg), a
// queue's shared memory — its header and its records (FuzzQueueRing) — and the codec
// (FuzzDecodeValue). The control and call frames are fuzzed in internal/wire. Each checks the
// invariants of issue #9: errors match ErrDecode or ErrProtocol (or say what they document),
// nothing panics, every wait is bounded, no descriptor is leaked, and what decoding allocates is
// bounded by the bytes it was given.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/sys/unix"
)

// fuzzAllocSlack is what a decode may allocate beyond its budget in these checks: the buffers of
// the Conn and of the fuzzing machinery itself.
const fuzzAllocSlack = 512 << 10

// fuzzHandles is a target with a field of every kind of handle.
type fuzzHandles struct {
	Q    *Queue[int]
	J    *JoinableQueue[string]
	C    *Conn[int]
	F    *os.File
	M    *Mutex
	S    *Semaphore
	E    *Event
	CV   *Cond
	B    *Barrier
	V    *Value[int64]
	A    *Array[int32]
	SM   *SharedMemory
	More []*os.File
	N    struct{ X *Mutex }
	Any  any
	I    int
	Text string
}

// release lets go of every handle in h.
func (h *fuzzHandles) release() {
	v := reflect.ValueOf(h).Elem()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() && v.CanInterface() {
				if _, ok := v.Interface().(handle); ok || v.Type() == osFileType {
					releaseHandle(v.Interface())
				}
			}
		}
	}
	walk(v)
}

// fuzzDescriptors makes descriptors of several kinds for the handle envelope to claim: a real
// queue, a real Cond's two segments, a pipe end, a file, tiny and empty memory files. kinds picks
// them, one per byte.
func fuzzDescriptors(t *testing.T, kinds []byte) []int {
	t.Helper()
	var fds []int
	for _, k := range kinds {
		var fd int
		var err error
		switch k % 8 {
		case 0:
			q := must(NewQueue[int](0, WithQueueBuffer(4096)))
			fd, err = q.r.seg.Dup()
			q.r.release()
		case 1:
			m := must(NewMutex())
			fd, err = firstOf(m.handleDup())
			m.Close()
		case 2:
			a, b, _ := Pipe[int]()
			fd, err = a.c.dup()
			a.Close()
			b.Close()
		case 3:
			fd, err = unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
		case 4:
			fd = memfd(t, 8, nil)
		case 5:
			fd = memfd(t, ringData+4096, binary.NativeEndian.AppendUint32(nil, ringMagic))
		case 6:
			b := must(NewBarrier(2))
			fd, err = firstOf(b.handleDup())
			b.Close()
		case 7:
			s := must(CreateSharedMemory("", 4096))
			fd, err = firstOf(s.handleDup())
			s.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	return fds
}

// FuzzDecodeArg decodes hostile handle envelopes, with descriptors of every kind attached, into a
// value with a field for every handle type.
func FuzzDecodeArg(f *testing.F) {
	for _, s := range envelopeSeeds(f) {
		f.Add(s.b, s.kinds)
	}
	f.Fuzz(func(t *testing.T, b []byte, kinds []byte) {
		if len(kinds) > 8 {
			kinds = kinds[:8]
		}
		before := fdCount(t)
		fds := fuzzDescriptors(t, kinds)
		var v fuzzHandles
		var err error
		alloc := allocDuring(func() { err = decodeArg("fuzz", b, fds, &v) })
		if err != nil && !errors.Is(err, ErrDecode) && !errors.Is(err, ErrProtocol) {
			t.Fatalf("decodeArg: %v (%T); want ErrDecode or ErrProtocol", err, err)
		}
		if err == nil {
			v.release()
		}
		if after := fdCount(t); after > before { // fewer: a finalizer of earlier garbage ran
			t.Fatalf("open descriptors: %d before, %d after (err %v)", before, after, err)
		}
		if budget := decodeBudget(len(b)) + fuzzAllocSlack; alloc > budget {
			t.Fatalf("%d bytes: %d allocated, more than %d", len(b), alloc, budget)
		}
	})
}

type envelopeSeed struct {
	b     []byte
	kinds []byte
}

// envelopeSeeds are handle envelopes mp writes, with the descriptors they claim, and a few it
// would not write.
func envelopeSeeds(t testing.TB) []envelopeSeed {
	ref := func(path []int, kind, meta string, n int) handleRef {
		return handleRef{Path: path, Kind: kind, Meta: meta, N: n}
	}
	return []envelopeSeed{
		{envelopeOf(t, fuzzHandles{I: 7, Text: "x"}, ref([]int{0}, "mp", queueMeta, 0)), []byte{0}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{4}, "mp", "*mp.Mutex", 0), ref([]int{3}, "file", "/dev/null", 0)), []byte{1, 3}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{2}, "mp", "*mp.Conn (duplex)", 0)), []byte{2}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{7}, "mp", "*mp.Cond", 2)), []byte{1, 1}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{8}, "mp", "*mp.Barrier", 0)), []byte{6}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{11}, "mp", "*mp.SharedMemory\x00", 0)), []byte{7}},
		{envelopeOf(t, fuzzHandles{More: make([]*os.File, 2)}, ref([]int{12, 1}, "file", "f", 0), ref([]int{13, 0}, "mp", "*mp.Mutex", 0)), []byte{3, 1}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{0}, "mp", queueMeta, 0)), []byte{4}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{0}, "mp", queueMeta, 0)), []byte{5}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{1}, "mp", joinableMeta, 0)), []byte{0}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{14}, "net.Conn", "", 0)), []byte{2}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{0}, "mp", queueMeta, 1<<62), ref([]int{1}, "mp", joinableMeta, 1<<62)), []byte{0}},
		{envelopeOf(t, fuzzHandles{}, ref([]int{2}, "mp", "*mp.Conn (duplex)\x00100,0,16,0", 0)), []byte{2}},
		{[]byte{0xd9, 0x6d, 0x70, 0x82, 0x40, 0x9a, 0xff, 0xff, 0xff, 0xff}, nil},
	}
}

// FuzzConnRecv writes a hostile stream, with a descriptor attached to its first byte, into the
// other end of a Conn and receives from it until it ends.
func FuzzConnRecv(f *testing.F) {
	for _, s := range connSeeds(f) {
		f.Add(s, byte(3), false)
	}
	f.Add(connSeeds(f)[0], byte(0), true)
	f.Fuzz(func(t *testing.T, stream []byte, fdKind byte, asBytes bool) {
		before := fdCount(t)
		func() {
			c, peer := rawPair[fuzzHandles](t, WithMaxMessage(1<<20))
			var attach []int
			if fdKind < 8 {
				attach = fuzzDescriptors(t, []byte{fdKind})
			}
			var sent sync.WaitGroup
			var sendErr error
			// Closing c ends a send still blocked; the peer is closed once the send is over.
			defer unix.Close(peer)
			defer sent.Wait()
			defer c.Close()
			sent.Go(func() {
				var oob []byte
				if len(attach) > 0 {
					oob = unix.UnixRights(attach...)
				}
				sendErr = unix.Sendmsg(peer, stream, oob, nil, unix.MSG_NOSIGNAL)
				closeFDs(attach)
				unix.Shutdown(peer, unix.SHUT_WR)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var total uint64
			for i := 0; ; i++ {
				var err error
				var v fuzzHandles
				total += allocDuring(func() {
					if asBytes {
						_, err = c.RecvBytes(ctx)
					} else {
						v, err = c.Recv(ctx)
					}
				})
				if err == nil {
					v.release()
					continue
				}
				if errors.Is(err, ErrDecode) {
					continue // the Conn stays usable
				}
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Recv still waiting after 10 s on a stream of %d bytes that ended", len(stream))
				}
				if err != io.EOF && !errors.Is(err, ErrProtocol) {
					t.Fatalf("Recv: %v (%T); want io.EOF, ErrDecode or ErrProtocol", err, err)
				}
				break
			}
			sent.Wait()
			if sendErr != nil && sendErr != syscall.EPIPE && sendErr != syscall.ECONNRESET {
				t.Fatal(sendErr)
			}
			if budget := decodeBudget(len(stream)) + 2*fuzzAllocSlack; total > budget {
				t.Fatalf("a stream of %d bytes: %d allocated, more than %d", len(stream), total, budget)
			}
		}()
		if after := fdCount(t); after > before { // fewer: a finalizer of earlier garbage ran
			t.Fatalf("open descriptors: %d before, %d after", before, after)
		}
	})
}

// connSeeds are streams a Conn's peer writes, and a few broken ones.
func connSeeds(t testing.TB) [][]byte {
	msg := func(kind byte, nfds int, body []byte) []byte {
		return append(appendHeader(nil, len(body), kind, nfds), body...)
	}
	plain, _ := codecEnc.Marshal(fuzzHandles{I: 3, Text: "hi"})
	withQueue := envelopeOf(t, fuzzHandles{}, handleRef{Path: []int{0}, Kind: "mp", Meta: queueMeta})
	return [][]byte{
		msg(msgValue, 0, plain),
		append(msg(msgValue, 0, plain), msg(msgBytes, 0, []byte("raw"))...),
		msg(msgValue, 1, withQueue),
		msg(msgValue, 0, withQueue),
		msg(msgRaw, 0, []byte{1, 2, 3, 4, 5, 6, 7, 8}),
		appendHeader(nil, maxPipeMessage, msgBytes, 0),
		appendHeader(nil, 2<<20, msgBytes, 3),
		append(appendHeader(nil, 100, msgValue, 0), "ten bytes."...),
		msg(7, 0, []byte("unknown kind")),
		msg(msgBytes, 300, []byte("too many descriptors")),
		{1, 0, 0},
	}
}

// FuzzQueueRing attaches a queue to shared memory holding hostile bytes — its header, its head
// and tail words, its records — and takes what it holds.
func FuzzQueueRing(f *testing.F) {
	for _, s := range ringSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, mem []byte) {
		size := ringData + minQueueBuffer
		if len(mem) > size {
			mem = mem[:size]
		}
		img := make([]byte, len(mem))
		copy(img, mem)
		// The locks are another matter (a lock word naming a live process is held, and waiting
		// for it is right): free them and fuzz the rest.
		for _, off := range []int{offPLock, offCLock} {
			if len(img) >= off+4 {
				binary.NativeEndian.PutUint32(img[off:], 0)
			}
		}
		before := fdCount(t)
		segSize := max(len(img), 1)
		if len(img) > 16 && img[16]&0x80 != 0 {
			segSize = size // a full-size segment with a short image: the rest is zero
		}
		fd := memfd(t, segSize, img)
		r, err := adoptRing(fd, queueMeta)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("adoptRing: %v; want ErrDecode", err)
			}
		} else {
			// Views of one ring, without the cleanups newQueue registers: it is released once, below.
			qi, qb, qa := &Queue[int]{r: r}, &Queue[[]byte]{r: r}, &Queue[any]{r: r}
			var alloc uint64
			for i := range 8 {
				var err error
				alloc += allocDuring(func() {
					switch i % 3 {
					case 0:
						_, err = qi.TryGet()
					case 1:
						_, err = qb.TryGet()
					case 2:
						_, err = qa.TryGet()
					}
				})
				if err != nil && !errors.Is(err, ErrDecode) && !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrQueueEmpty) && !errors.Is(err, ErrClosed) {
					t.Fatalf("TryGet: %v (%T)", err, err)
				}
			}
			// Whatever the header's counts say, Stats reads only the header.
			_ = qi.Stats()
			if budget := 8*decodeBudget(int(r.size)) + fuzzAllocSlack; alloc > budget {
				t.Fatalf("a ring of %d bytes: %d allocated, more than %d", r.size, alloc, budget)
			}
			r.release()
		}
		if after := fdCount(t); after > before { // fewer: a finalizer of earlier garbage ran
			t.Fatalf("open descriptors: %d before, %d after", before, after)
		}
	})
}

// ringSeeds are images of real queues' shared memory.
func ringSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	image := func(r *ring) []byte {
		b := append([]byte(nil), r.seg.Mem...)
		r.release()
		return b
	}
	q, err := NewQueue[[]byte](0, WithQueueBuffer(minQueueBuffer))
	if err != nil {
		t.Fatal(err)
	}
	q.Put(context.Background(), []byte("hello"))
	q.Put(context.Background(), []byte("world"))
	seeds = append(seeds, image(q.r))
	qa := must(NewQueue[any](3, WithQueueBuffer(minQueueBuffer)))
	qa.Put(context.Background(), map[string]any{"a": []any{1, "x"}})
	qa.Put(context.Background(), 7)
	seeds = append(seeds, image(qa.r))
	qi := must(NewJoinableQueue[int](0, WithQueueBuffer(minQueueBuffer)))
	for i := range 1000 { // wraps around the ring
		qi.Put(context.Background(), i)
		qi.TryGet()
	}
	qi.Put(context.Background(), 42)
	seeds = append(seeds, image(qi.q.r), []byte{})
	return seeds
}

// fuzzTargets are the types FuzzDecodeValue decodes into.
var fuzzTargets = []func(b []byte) error{
	func(b []byte) error { var v any; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v []bigElem; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v []*bigElem; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v map[string]*bigElem; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v budgetMixed; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v budgetTagged; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v [][]string; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v map[int][]bigElem; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v []time.Time; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v fuzzHandles; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v []cbor.RawMessage; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v []cbor.Tag; return decodeValue("fuzz", b, &v) },
	func(b []byte) error { var v map[string][]*bigElem; return decodeValue("fuzz", b, &v) },
}

// FuzzDecodeValue decodes hostile CBOR into types of every shape: an error is an ErrDecode error,
// and what decoding allocates stays within the budget of the bytes.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range codecSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		errs := make([]error, len(fuzzTargets))
		alloc := allocDuring(func() {
			for i, decode := range fuzzTargets {
				errs[i] = decode(b)
			}
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, ErrDecode) {
				t.Fatalf("target %d: %v (%T); want ErrDecode", i, err, err)
			}
		}
		// Each decode stays within its budget; all of them together, within the sum.
		if budget := uint64(len(fuzzTargets))*decodeBudget(len(b)) + fuzzAllocSlack; alloc > budget {
			t.Fatalf("%d bytes into %d types: %d allocated, more than %d", len(b), len(fuzzTargets), alloc, budget)
		}
	})
}

// codecSeeds are values mp encodes, and bytes that stand for more than themselves.
func codecSeeds(t testing.TB) [][]byte {
	enc := func(v any) []byte {
		b, err := codecEnc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return [][]byte{
		enc(map[string]any{"a": []any{1, "x", 2.5, nil, true}, "b": map[string]any{}}),
		enc(make([]bigElem, 2)),
		enc([]*bigElem{{}, nil}),
		enc(map[string]*bigElem{"k": {}}),
		enc(budgetMixed{Big: make([]bigElem, 1), Ints: []int{1, 2, 3}, Name: "n"}),
		enc(budgetTagged{A: make([]bigElem, 1), B: 2}),
		enc([][]string{{"a"}, {}}),
		enc(map[int][]bigElem{1: make([]bigElem, 1)}),
		enc([]time.Time{time.Unix(1, 2).UTC()}),
		enc(fuzzHandles{I: 1, Text: "t", More: []*os.File{nil}}),
		cborArray(4096, 0xf6),
		cborArray(4096, 0xa0),
		cborArray(1024, 0x80),
		nullPairs(512),
		{0x9a, 0xff, 0xff, 0xff, 0xff},
		{0x9f, 0xf6, 0xf6, 0xff},
		{0xd8, 0x40, 0x9f, 0xa0, 0xff},
	}
}

// firstOf returns the one descriptor of a handleDup's result.
func firstOf(fds []int, _ string, err error) (int, error) {
	if err != nil {
		return -1, err
	}
	return fds[0], nil
}

// must returns v, and panics (failing the test, with err's message) if err is not nil: for the
// constructors a test cannot go on without.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("must: %v", err))
	}
	return v
}
