//go:build linux

package mp

// Hostile peers: a raw socket plays the other end of a Conn and writes whatever it likes. Every
// Recv must end in bounded time with an error matching ErrDecode or ErrProtocol, never panic,
// never leak a descriptor it received, and never allocate much more than the bytes that arrived.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/sys/unix"
)

// hostilePair returns a Conn over one end of a new socket pair and the raw descriptor of the
// other end, both closed when the test ends.
func hostilePair[T any](t testing.TB, opts ...PipeOption) (*Conn[T], int) {
	t.Helper()
	c, peer := rawPair[T](t, opts...)
	t.Cleanup(func() {
		c.Close()
		unix.Close(peer)
	})
	return c, peer
}

// rawPair is hostilePair, leaving the closing to the caller.
func rawPair[T any](t testing.TB, opts ...PipeOption) (*Conn[T], int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := adoptConn(fds[0])
	if err != nil {
		t.Fatal(err)
	}
	cfg := pipeConfig{limits: defaultConnLimits()}
	for _, o := range opts {
		if err := o.applyPipe(&cfg); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.limits.dec, err = cfg.limits.decode.decMode(); err != nil {
		t.Fatal(err)
	}
	cc.connLimits = cfg.limits
	return &Conn[T]{c: cc}, fds[1]
}

// sendRaw writes a pipe message header (announcing size bytes and nfds descriptors), then body,
// with fds attached to the first byte.
func sendRaw(t testing.TB, fd int, kind byte, size, nfds int, body []byte, fds ...int) {
	t.Helper()
	if err := rawSend(fd, kind, size, nfds, body, fds...); err != nil {
		t.Fatal(err)
	}
}

// rawSend is sendRaw for a goroutine of its own.
func rawSend(fd int, kind byte, size, nfds int, body []byte, fds ...int) error {
	b := append(appendHeader(nil, size, kind, nfds), body...)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(fd, b, oob, nil, unix.MSG_NOSIGNAL)
}

// memfd returns a new memory file of size bytes, holding data at its start.
func memfd(t testing.TB, size int, data []byte) int {
	t.Helper()
	fd, err := unix.MemfdCreate("mp-hostile", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 {
		if _, err := unix.Pwrite(fd, data, 0); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

// fdCount counts this process's open descriptors.
func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents) - 1 // the directory being read
}

// recvNoPanic calls Recv, bounded by a few seconds, turning a panic into a test failure.
func recvNoPanic[T any](t testing.TB, c *Conn[T]) (v T, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Recv panicked: %v", p)
		}
	}()
	return c.Recv(ctx)
}

// wantDecodeOrProtocol fails unless err matches ErrDecode or ErrProtocol.
func wantDecodeOrProtocol(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrProtocol) {
		t.Fatalf("%s: %v (%T); want an error matching mp.ErrDecode or mp.ErrProtocol", what, err, err)
	}
}

// envelopeOf encodes a handle envelope around value with refs, as a hostile sender might.
func envelopeOf(t testing.TB, value any, refs ...handleRef) []byte {
	t.Helper()
	v, err := codecEnc.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codecEnc.Marshal(cbor.Tag{Number: handleTag, Content: envelope{Value: v, Refs: refs}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type twoConns struct {
	A, B *Conn[int]
}

// TestHostileEnvelopeCountOverflow: descriptor counts whose sum overflows must not slice past
// the descriptors that arrived.
func TestHostileEnvelopeCountOverflow(t *testing.T) {
	c, peer := hostilePair[twoConns](t)
	before := fdCount(t)
	b := envelopeOf(t, twoConns{},
		handleRef{Path: []int{0}, Kind: "mp", Meta: "*mp.Conn (duplex)", N: math.MaxInt64},
		handleRef{Path: []int{1}, Kind: "mp", Meta: "*mp.Conn (duplex)", N: math.MaxInt64})
	fd := memfd(t, 4096, nil)
	sendRaw(t, peer, msgValue, len(b), 1, b, fd)
	unix.Close(fd)
	_, err := recvNoPanic(t, c)
	wantDecodeOrProtocol(t, "envelope with overflowing counts", err)
	if after := fdCount(t); after > before {
		t.Fatalf("open descriptors: %d before, %d after", before, after)
	}
}

type queueArg struct{ Q *Queue[int] }

// TestHostileTinySegments sends small memory files where shared objects are expected: each must
// be refused (the descriptor closed), never read past its end.
func TestHostileTinySegments(t *testing.T) {
	shared := func(kind uint32) []byte {
		b := binary.NativeEndian.AppendUint32(nil, sharedMagic)
		return binary.NativeEndian.AppendUint32(b, kind)
	}
	ringHdr := func(size uint32) []byte {
		b := binary.NativeEndian.AppendUint32(nil, ringMagic)
		b = binary.NativeEndian.AppendUint32(b, ringVersion)
		return binary.NativeEndian.AppendUint32(b, size)
	}
	cases := []struct {
		name string
		meta string
		hdr  []byte
		recv func(c *conn) error
	}{
		{"queue", queueMeta, ringHdr(8), recvAs[queueArg]},
		{"queue-size", queueMeta, ringHdr(1 << 12), recvAs[queueArg]},
		{"joinable", joinableMeta, ringHdr(8), recvAs[struct{ Q *JoinableQueue[int] }]},
		{"mutex", "*mp.Mutex", shared(kindMutex), recvAs[struct{ M *Mutex }]},
		{"semaphore", "*mp.Semaphore", shared(kindSemaphore), recvAs[struct{ S *Semaphore }]},
		{"event", "*mp.Event", shared(kindEvent), recvAs[struct{ E *Event }]},
		{"barrier", "*mp.Barrier", shared(kindBarrier), recvAs[struct{ B *Barrier }]},
		{"value", "*mp.Value", shared(kindValue), recvAs[struct{ V *Value[int64] }]},
		{"array", "*mp.Array", shared(kindArray), recvAs[struct{ A *Array[int64] }]},
		{"conn", "*mp.Conn (duplex)", nil, recvAs[struct{ C *Conn[int] }]},
	}
	for _, tc := range cases {
		for _, size := range []int{1, 8, 196, 200, 1032, ringData + 8} {
			if tc.hdr != nil && tc.meta != queueMeta && tc.meta != joinableMeta && size >= sharedMin {
				continue // a whole object's segment: not tiny
			}
			t.Run(fmt.Sprintf("%s/%d", tc.name, size), func(t *testing.T) {
				c, peer := hostilePair[int](t)
				before := fdCount(t)
				// A header that looks right, on a segment too short for the object.
				fd := memfd(t, size, tc.hdr[:min(size, len(tc.hdr))])
				b := envelopeOf(t, struct{ X any }{}, handleRef{Path: []int{0}, Kind: "mp", Meta: tc.meta})
				sendRaw(t, peer, msgValue, len(b), 1, b, fd)
				unix.Close(fd)
				err := tc.recv(c.c)
				wantDecodeOrProtocol(t, "a tiny segment", err)
				if after := fdCount(t); after > before {
					t.Fatalf("open descriptors: %d before, %d after", before, after)
				}
			})
		}
	}
}

// recvAs receives one message on c as a T; a panic is returned as an error saying so.
func recvAs[T any](c *conn) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("Recv panicked: %v", p)
		}
	}()
	_, err = (&Conn[T]{c: c}).Recv(ctx)
	return err
}

// TestHostileHugeHeader: a header announcing up to 4 GiB, a few bytes and the end of the stream
// must not make Recv allocate what the header announces: sixteen of them allocated 64 GiB. Each
// Recv may allocate its Conn's 64 KiB read-ahead buffer and a payload buffer of 64 KiB at most.
func TestHostileHugeHeader(t *testing.T) {
	for _, tc := range []struct {
		size  int
		limit int // 0 for the default
	}{
		{maxPipeMessage, 0},              // over the default limit: refused at once
		{maxPipeMessage, maxPipeMessage}, // under the limit: read as it comes
		{200 << 20, 0},
		{1 << 20, 0},
	} {
		t.Run(fmt.Sprint(tc.size, "/", tc.limit), func(t *testing.T) {
			const conns = 16
			var cs [conns]*Conn[[]byte]
			for i := range cs {
				var opts []PipeOption
				if tc.limit > 0 {
					opts = append(opts, WithMaxMessage(tc.limit))
				}
				c, peer := hostilePair[[]byte](t, opts...)
				sendRaw(t, peer, msgBytes, tc.size, 0, []byte("a few bytes"))
				unix.Shutdown(peer, unix.SHUT_WR)
				cs[i] = c
			}
			var errs [conns]error
			alloc := allocDuring(func() {
				for i, c := range cs {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, errs[i] = c.RecvBytes(ctx)
					cancel()
				}
			})
			if alloc > conns*(readBuffer+firstChunk+16<<10) {
				t.Errorf("%d headers announcing %d bytes each, then end of file: Recv allocated %d bytes", conns, tc.size, alloc)
			}
			for _, err := range errs {
				wantDecodeOrProtocol(t, "a header announcing more than arrived", err)
				if tc.limit == 0 && tc.size > DefaultMaxMessage && !errors.Is(err, ErrTooLarge) {
					t.Errorf("a message over the limit: %v; want ErrTooLarge", err)
				}
			}
		})
	}
}

// TestHostileMissingDescriptors: a header announcing descriptors that never came.
func TestHostileMissingDescriptors(t *testing.T) {
	c, peer := hostilePair[[]byte](t)
	sendRaw(t, peer, msgBytes, 3, 5, []byte("abc"))
	_, err := c.RecvBytes(context.Background())
	wantDecodeOrProtocol(t, "a header announcing 5 descriptors, none sent", err)
}

// TestHostileCodecAmplification: a CBOR array of nulls decoded into a slice of large structs.
// 256 KiB of nulls would become 256 MiB of zeroed elements.
func TestHostileCodecAmplification(t *testing.T) {
	c, peer := hostilePair[[]bigElem](t)
	n := 256 << 10
	b := []byte{0x9a, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for range n {
		b = append(b, 0xf6)
	}
	var err error
	alloc := allocDuring(func() {
		go rawSend(peer, msgValue, len(b), 0, b)
		_, err = recvNoPanic(t, c)
	})
	wantDecodeOrProtocol(t, "256 Ki nulls into []bigElem", err)
	if alloc > 64*uint64(len(b)) {
		t.Fatalf("a message of %d bytes made Recv allocate %d bytes", len(b), alloc)
	}
}

// TestHostileTooLargeKeepsConnUsable: a message over the limit is refused when its header
// arrives, with an error naming the limit and the option; its descriptors are closed, its bytes
// discarded, and the next message is received.
func TestHostileTooLargeKeepsConnUsable(t *testing.T) {
	c, peer := hostilePair[[]byte](t, WithMaxMessage(1000))
	before := fdCount(t)
	fd1, fd2 := memfd(t, 4096, nil), memfd(t, 4096, nil)
	sendRaw(t, peer, msgBytes, 300<<10, 2, nil, fd1, fd2)
	unix.Close(fd1)
	unix.Close(fd2)
	go func() {
		unix.Write(peer, make([]byte, 300<<10)) // more than the socket holds: the reader discards it
		rawSend(peer, msgBytes, 5, 0, []byte("hello"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.RecvBytes(ctx)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "WithMaxMessage") || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("a message over the limit: %v; want ErrTooLarge and ErrDecode, naming the limit and mp.WithMaxMessage", err)
	}
	b, err := c.RecvBytes(ctx)
	if err != nil || string(b) != "hello" {
		t.Fatalf("the message after: %q, %v", b, err)
	}
	if after := fdCount(t); after > before {
		t.Fatalf("open descriptors: %d before, %d after", before, after)
	}
}

// TestHostileViolationClosesConn: a stream that breaks the framing closes the Conn.
func TestHostileViolationClosesConn(t *testing.T) {
	c, peer := hostilePair[[]byte](t)
	sendRaw(t, peer, 99, 3, 0, []byte("abc"))
	_, err := c.RecvBytes(context.Background())
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("unknown message kind: %v; want ErrProtocol", err)
	}
	if _, err := c.RecvBytes(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after a protocol violation: %v; want ErrClosed", err)
	}
	c2, peer2 := hostilePair[[]byte](t)
	sendRaw(t, peer2, msgBytes, 3, 1000, []byte("abc"))
	if _, err := c2.RecvBytes(context.Background()); !errors.Is(err, ErrProtocol) {
		t.Fatalf("1000 descriptors announced: %v; want ErrProtocol", err)
	}
}

// TestHostileStrayDescriptorsClosed: descriptors that no message claims are closed.
func TestHostileStrayDescriptorsClosed(t *testing.T) {
	c, peer := hostilePair[[]byte](t)
	before := fdCount(t)
	fds := []int{memfd(t, 1, nil), memfd(t, 1, nil), memfd(t, 1, nil)}
	sendRaw(t, peer, msgBytes, 3, 0, []byte("abc"), fds...)
	closeFDs(fds)
	if b, err := c.RecvBytes(context.Background()); err != nil || string(b) != "abc" {
		t.Fatalf("RecvBytes = %q, %v", b, err)
	}
	if after := fdCount(t); after > before {
		t.Fatalf("open descriptors: %d before, %d after", before, after)
	}
}

// TestHostileCutShort: the other end closing in the middle of a message is an ErrProtocol error
// matching io.ErrUnexpectedEOF, every time.
func TestHostileCutShort(t *testing.T) {
	c, peer := hostilePair[[]byte](t)
	sendRaw(t, peer, msgBytes, 100, 0, []byte("only ten.."))
	unix.Shutdown(peer, unix.SHUT_WR)
	for range 2 {
		_, err := c.RecvBytes(context.Background())
		if !errors.Is(err, ErrProtocol) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("a message cut short: %v; want ErrProtocol and io.ErrUnexpectedEOF", err)
		}
	}
	if ok, err := c.Poll(0); !ok || err != nil {
		t.Fatalf("Poll after the stream broke = %v, %v; want true (Recv returns at once)", ok, err)
	}
}

// TestHostileDecodeErrorKeepsConnUsable: garbage where a value is expected is consumed.
func TestHostileDecodeErrorKeepsConnUsable(t *testing.T) {
	c, peer := hostilePair[[]int](t)
	sendRaw(t, peer, msgValue, 3, 0, []byte{0x9a, 0xff, 0xff})
	good, _ := codecEnc.Marshal([]int{1, 2})
	sendRaw(t, peer, msgValue, len(good), 0, good)
	if _, err := recvNoPanic(t, c); !errors.Is(err, ErrDecode) {
		t.Fatalf("garbage: %v; want ErrDecode", err)
	}
	if v, err := recvNoPanic(t, c); err != nil || len(v) != 2 {
		t.Fatalf("the message after = %v, %v", v, err)
	}
}

// TestHostileQueueRecord: a record whose length word another process overwrote is refused,
// without reading past the ring or allocating what the word says.
func TestHostileQueueRecord(t *testing.T) {
	q, err := NewQueue[[]byte](0, WithQueueBuffer(4096))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Put(context.Background(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	hoff := uint32(atomic.LoadUint64(q.r.head))
	for _, word := range []uint32{recLenMax, recRaw | 4093, recRaw | 6} {
		var hdr [4]byte
		binary.NativeEndian.PutUint32(hdr[:], word)
		q.r.write(hoff, hdr[:])
		var v []byte
		alloc := allocDuring(func() { v, err = q.TryGet() })
		if !errors.Is(err, ErrProtocol) || v != nil {
			t.Fatalf("a record announcing %#x: %q, %v; want ErrProtocol", word, v, err)
		}
		if alloc > 64<<10 {
			t.Fatalf("a record announcing %#x: %d bytes allocated", word, alloc)
		}
	}
	q.r.release()
}
